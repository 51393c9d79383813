using Drt.Overlay;
using Drt.Overlay.Security;
using Xunit;

namespace Drt.Node.Tests;

/// <summary>drt keygen, root keygen, credential issue and derive, as a user runs them (Unix file modes).</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class KeyCommandTests
{
    [Fact]
    public async Task KeysAndCredentialsAreMadeAsPrivateFilesThatTheLibraryAccepts()
    {
        string dir = Directory.CreateTempSubdirectory("drt-keys-").FullName;
        try
        {
            string identityPath = Path.Combine(dir, "identity.pem");
            string rootPath = Path.Combine(dir, "root.pem");
            string credentialPath = Path.Combine(dir, "member.credential");
            (int exit, string output, string error) = await DrtProcess.RunAsync("keygen", "--out", identityPath, "--json");
            Assert.True(exit == 0, error);
            string publicKey = DrtProcess.JsonLines(output)[0].GetProperty("public_key").GetString()!;
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(identityPath));
            using DrtIdentity identity = DrtIdentity.Load(identityPath);
            Assert.Equal(publicKey, Convert.ToHexStringLower(identity.PublicKey.Span));

            // An existing identity is kept unless --force.
            (exit, _, error) = await DrtProcess.RunAsync("keygen", "--out", identityPath);
            Assert.Equal(2, exit);
            Assert.Contains("--force", error);

            (exit, output, error) = await DrtProcess.RunAsync("root", "keygen", "--out", rootPath, "--json");
            Assert.True(exit == 0, error);
            byte[] rootKey = Convert.FromHexString(DrtProcess.JsonLines(output)[0].GetProperty("root_public_key").GetString()!);

            (exit, _, error) = await DrtProcess.RunAsync("credential", "issue", "--root-key", rootPath, "--member", publicKey, "--days", "30", "--label", "alice", "--out", credentialPath);
            Assert.True(exit == 0, error);
            Assert.True(DrtCredential.TryParseText(await File.ReadAllTextAsync(credentialPath, DrtProcess.Cancel), out DrtCredential? credential));
            Assert.Equal(DrtCredentialStatus.Valid, credential.Check(rootKey, new DrtSettings().NetworkId, DateTimeOffset.UtcNow));
            Assert.Equal(DrtCredentialStatus.Expired, credential.Check(rootKey, new DrtSettings().NetworkId, DateTimeOffset.UtcNow.AddDays(31)));
            Assert.Equal("alice", credential.Label);
            Assert.Equal(identity.PublicKey.ToArray(), credential.MemberPublicKey.ToArray());

            // derive: the key the identity owns for a classifier, as the library derives it.
            (exit, output, error) = await DrtProcess.RunAsync("derive", "chat", "--identity", identityPath, "--json");
            Assert.True(exit == 0, error);
            Assert.Equal(identity.DeriveKey("chat").ToString(), DrtProcess.JsonLines(output)[0].GetProperty("key").GetString());

            // A private key others can read is refused with a way out (exit 5, one line).
            File.SetUnixFileMode(identityPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
            (exit, _, error) = await DrtProcess.RunAsync("derive", "chat", "--identity", identityPath);
            Assert.Equal(5, exit);
            Assert.Contains("chmod 600", Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
