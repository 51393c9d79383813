using Drt.Overlay.Security;
using Drt.Overlay.Wire;
using Xunit;

namespace Drt.Overlay.Tests.Security;

/// <summary>Identities: derivation, raw and PEM round trips, and the key file's permissions.</summary>
public sealed class IdentityTests
{
    [Fact]
    public void Derivation_is_stable_and_matches_the_documented_formula()
    {
        using DrtIdentity identity = SecurityTestKit.Identity(7);
        Key256 key = identity.DeriveKey("chat");
        Assert.Equal(key, identity.DeriveKey("chat"));

        // docs/security.md: SHA-256(u16 len ‖ "drt.overlay/key/v1" ‖ u16 len ‖ public key ‖ classifier) — the same
        // bytes as Key256.Derive with that tag.
        Assert.Equal(Key256.Derive("drt.overlay/key/v1"u8, identity.PublicKey.Span, "chat"), key);
        using DrtIdentity again = SecurityTestKit.Identity(7);
        Assert.Equal(key, again.DeriveKey("chat"));
    }

    [Fact]
    public void Derivation_is_classifier_and_identity_sensitive()
    {
        using DrtIdentity a = SecurityTestKit.Identity(1);
        using DrtIdentity b = SecurityTestKit.Identity(2);
        var keys = new HashSet<Key256> { a.DeriveKey(""), a.DeriveKey("chat"), a.DeriveKey("Chat"), a.DeriveKey("chat "), b.DeriveKey("chat") };
        Assert.Equal(5, keys.Count);
        Assert.True(a.OwnsKey(a.DeriveKey("chat"), "chat"));
        Assert.False(a.OwnsKey(b.DeriveKey("chat"), "chat"));
        Assert.False(a.OwnsKey(a.DeriveKey("chat"), "mail"));
    }

    [Fact]
    public void A_classifier_longer_than_256_bytes_is_refused_with_a_message()
    {
        using DrtIdentity identity = SecurityTestKit.Identity(1);
        identity.DeriveKey(new string('x', 256));
        DrtException e = Assert.Throws<DrtException>(() => identity.DeriveKey(new string('x', 257)));
        Assert.Equal(DrtError.InvalidArgument, e.Error);
        Assert.Contains("256", e.Message);
        Assert.Equal(DrtError.InvalidArgument, Assert.Throws<DrtException>(() => identity.DeriveKey(null!)).Error);
    }

    [Fact]
    public void Raw_and_pem_round_trips_keep_the_key()
    {
        using DrtIdentity original = DrtIdentity.Create();
        byte[] raw = original.ExportPrivateKey();
        Assert.Equal(DrtIdentity.PrivateKeyLength, raw.Length);
        using DrtIdentity fromRaw = DrtIdentity.FromPrivateKey(raw);
        Assert.Equal(original.PublicKey.ToArray(), fromRaw.PublicKey.ToArray());

        string pem = original.ExportPem();
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", pem);
        using DrtIdentity fromPem = DrtIdentity.FromPem(pem);
        Assert.Equal(original.PublicKey.ToArray(), fromPem.PublicKey.ToArray());
        Assert.Equal(original.DeriveKey("x"), fromPem.DeriveKey("x"));
    }

    [Fact]
    public void Bad_raw_and_pem_input_is_refused_with_a_drt_exception()
    {
        Assert.Equal(DrtError.InvalidArgument, Assert.Throws<DrtException>(() => DrtIdentity.FromPrivateKey(new byte[31])).Error);
        Assert.Equal(DrtError.InvalidIdentity, Assert.Throws<DrtException>(() => DrtIdentity.FromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")).Error);
        Assert.Equal(DrtError.InvalidIdentity, Assert.Throws<DrtException>(() => DrtIdentity.FromPem("not a key")).Error);
    }

    [Fact]
    public async Task Save_writes_mode_0600_and_load_reads_it_back()
    {
        string directory = Directory.CreateTempSubdirectory("drt-identity-").FullName;
        try
        {
            string path = Path.Combine(directory, "node.key");
            using DrtIdentity identity = SecurityTestKit.Identity(9);
            await identity.SaveAsync(path, TestContext.Current.CancellationToken);

            // Saved again over the old file: still one complete file, no temporaries left behind.
            await identity.SaveAsync(path, TestContext.Current.CancellationToken);
            Assert.Equal(["node.key"], Directory.GetFiles(directory).Select(Path.GetFileName));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            }

            using DrtIdentity loaded = DrtIdentity.Load(path);
            Assert.Equal(identity.PublicKey.ToArray(), loaded.PublicKey.ToArray());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Load_refuses_a_key_file_others_can_read()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "Unix file modes only.");
        string directory = Directory.CreateTempSubdirectory("drt-identity-").FullName;
        try
        {
            string path = Path.Combine(directory, "node.key");
            using DrtIdentity identity = SecurityTestKit.Identity(9);
            await identity.SaveAsync(path, TestContext.Current.CancellationToken);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }

            DrtException e = Assert.Throws<DrtException>(() => DrtIdentity.Load(path));
            Assert.Equal(DrtError.InvalidIdentity, e.Error);
            Assert.Contains("0644", e.Message);
            Assert.Contains("chmod 600", e.Message);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Load_of_a_missing_file_says_so()
    {
        DrtException e = Assert.Throws<DrtException>(() => DrtIdentity.Load(Path.Combine(Path.GetTempPath(), "drt-no-such-dir", "none.key")));
        Assert.Equal(DrtError.InvalidIdentity, e.Error);
    }
}
