using System.CommandLine;
using System.Globalization;
using Drt.Node.Node;
using Drt.Overlay;
using Drt.Overlay.Security;

namespace Drt.Node.Cli;

/// <summary>
/// The key material of the secure modes: <c>drt keygen</c> (an instance's Ed25519 identity), <c>drt root keygen</c>
/// (the key that signs membership credentials), <c>drt credential issue</c>, and <c>drt derive</c> (the key an
/// identity owns for a classifier). Private keys are written with mode 0600 and never printed.
/// </summary>
internal static class KeyCommands
{
    public static Command Keygen(TextWriter stdout) => Generate("keygen", "Creates an instance identity (Ed25519) in --out (default DATA_DIR/identity.pem, mode 0600) and prints its public key.", stdout, root: false);

    public static Command Root(TextWriter stdout) => new("root", "The membership root: 'drt root keygen' creates the key that signs credentials.")
    {
        Generate("keygen", "Creates a root key (Ed25519) in --out (mode 0600) and prints its public key; keep it offline.", stdout, root: true),
    };

    public static Command Credential(TextWriter stdout)
    {
        var rootKey = new Option<string>("--root-key") { Description = "The root key file (from 'drt root keygen').", Required = true };
        var member = new Option<string?>("--member") { Description = "The member's public key, 64 hex digits (from 'drt keygen')." };
        var memberIdentity = new Option<string?>("--member-identity") { Description = "Or the member's identity file, whose public key is used." };
        var days = new Option<int>("--days") { Description = "How long the credential is valid, from now (1..3650 days).", DefaultValueFactory = _ => 365 };
        var label = new Option<string>("--label") { Description = $"A short label for the member (at most {DrtCredential.MaxLabelLength} bytes).", DefaultValueFactory = _ => "member" };
        var networkId = new Option<uint?>("--network-id") { Description = "The network the credential is for (default: drt's default network id)." };
        var output = new Option<string>("--out") { Description = "Where to write the credential (PEM text).", Required = true };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object." };
        days.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 3650)
            {
                r.AddError("--days must be in 1..3650");
            }
        });
        var issue = new Command("issue", "Signs a membership credential for a member's public key with the root key.")
        {
            rootKey, member, memberIdentity, days, label, networkId, output, json,
        };
        issue.SetAction(async (parse, cancellationToken) =>
        {
            byte[] memberKey = MemberKey(parse.GetValue(member), parse.GetValue(memberIdentity));
            using DrtIdentity root = LoadIdentity(parse.GetValue(rootKey)!, "--root-key");
            DateTimeOffset now = DateTimeOffset.UtcNow;
            DrtCredential credential;
            try
            {
                credential = DrtCredential.Issue(root, memberKey, now, now.AddDays(parse.GetValue(days)), parse.GetValue(label)!, parse.GetValue(networkId) ?? new DrtSettings().NetworkId);
            }
            catch (DrtException error)
            {
                throw new UsageException(error.Message);
            }

            string path = parse.GetValue(output)!;
            await WritePrivateAsync(path, credential.ToText(), cancellationToken).ConfigureAwait(false);
            var print = new Output(stdout, parse.GetValue(json));
            if (print.Json)
            {
                print.WriteJson(w =>
                {
                    w.WriteString("credential", path);
                    w.WriteString("member", Convert.ToHexStringLower(memberKey));
                    w.WriteString("root", Convert.ToHexStringLower(root.PublicKey.Span));
                    w.WriteString("not_after", credential.NotAfter.ToString("O", CultureInfo.InvariantCulture));
                });
            }
            else
            {
                stdout.WriteLine($"credential for {Convert.ToHexStringLower(memberKey)} written to {path}, valid until {credential.NotAfter:u}");
            }

            return ExitCodes.Success;
        });
        return new Command("credential", "Membership credentials: 'drt credential issue'.") { issue };
    }

    public static Command Derive(TextWriter stdout)
    {
        var classifier = new Argument<string>("CLASSIFIER") { Description = "A short application string; one identity owns a key per classifier." };
        var identity = new Option<string?>("--identity") { Description = "The identity file (default DATA_DIR/identity.pem)." };
        var dataDir = new Option<string?>("--data-dir") { Description = "The data directory (default $DRT_DATA_DIR or ~/.local/share/drt)." };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object." };
        var command = new Command("derive", "Prints the key an identity owns for CLASSIFIER: SHA-256 of a domain tag, the public key and the classifier.") { classifier, identity, dataDir, json };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(identity) ?? Path.Combine(parse.GetValue(dataDir) ?? NodeOptions.DefaultDataDir(), "identity.pem");
            using DrtIdentity owner = LoadIdentity(path, "--identity");
            string key;
            try
            {
                key = owner.DeriveKey(parse.GetValue(classifier)!).ToString();
            }
            catch (DrtException error)
            {
                throw new UsageException(error.Message);
            }

            new Output(stdout, parse.GetValue(json)).Done("derived", key);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Loads an identity or root key file; a bad one is the user's to fix (exit 5 with the library's message).</summary>
    public static DrtIdentity LoadIdentity(string path, string flag)
    {
        try
        {
            return DrtIdentity.Load(path);
        }
        catch (DrtException error) when (error.Error == DrtError.InvalidIdentity)
        {
            throw new IOException($"{flag} {path}: {error.Message}", error);
        }
    }

    private static Command Generate(string name, string description, TextWriter stdout, bool root)
    {
        var output = new Option<string?>("--out") { Description = root ? "Where to write the root key (required)." : "Where to write the identity (default DATA_DIR/identity.pem).", Required = root };
        var dataDir = new Option<string?>("--data-dir") { Description = "The data directory (default $DRT_DATA_DIR or ~/.local/share/drt)." };
        var force = new Option<bool>("--force") { Description = "Replace an existing file (its key is lost)." };
        var json = new Option<bool>("--json") { Description = "Print the result as one JSON object." };
        var command = new Command(name, description) { output, force, json };
        if (!root)
        {
            command.Options.Add(dataDir);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            string path = parse.GetValue(output) ?? Path.Combine(parse.GetValue(dataDir) ?? NodeOptions.DefaultDataDir(), "identity.pem");
            if (File.Exists(path) && !parse.GetValue(force))
            {
                throw new UsageException($"{path} exists; keep it, or pass --force to replace it (its key is lost)");
            }

            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            using DrtIdentity identity = DrtIdentity.Create();
            await identity.SaveAsync(path, cancellationToken).ConfigureAwait(false);
            string publicKey = Convert.ToHexStringLower(identity.PublicKey.Span);
            var print = new Output(stdout, parse.GetValue(json));
            if (print.Json)
            {
                print.WriteJson(w =>
                {
                    w.WriteString(root ? "root_public_key" : "public_key", publicKey);
                    w.WriteString("path", path);
                });
            }
            else
            {
                stdout.WriteLine($"{(root ? "root public key" : "public key")} {publicKey}");
                stdout.WriteLine($"private key written to {path} (mode 0600)");
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static byte[] MemberKey(string? hex, string? identityPath)
    {
        if ((hex is null) == (identityPath is null))
        {
            throw new UsageException("give the member as --member HEX or --member-identity FILE (one of them)");
        }

        if (identityPath is not null)
        {
            using DrtIdentity identity = LoadIdentity(identityPath, "--member-identity");
            return identity.PublicKey.ToArray();
        }

        try
        {
            byte[] key = Convert.FromHexString(hex!);
            return key.Length == DrtIdentity.PublicKeyLength ? key : throw new UsageException($"--member must be {DrtIdentity.PublicKeyLength * 2} hex digits; it has {hex!.Length}");
        }
        catch (FormatException)
        {
            throw new UsageException($"--member '{hex}' is not hexadecimal");
        }
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> readable by its owner only, replacing it whole.</summary>
    private static async Task WritePrivateAsync(string path, string text, CancellationToken cancellationToken)
    {
        string temporary = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        await using (var stream = new FileStream(temporary, options))
        await using (var writer = new StreamWriter(stream))
        {
            await writer.WriteAsync(text.AsMemory(), cancellationToken).ConfigureAwait(false);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
