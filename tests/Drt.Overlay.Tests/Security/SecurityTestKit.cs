using Drt.Overlay.Security;
using Drt.Overlay.Wire.Protocol;

namespace Drt.Overlay.Tests.Security;

/// <summary>Fixed identities and records, so every security test is deterministic.</summary>
internal static class SecurityTestKit
{
    public const uint NetworkId = 0xD27_0001;

    public static readonly DateTimeOffset Now = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static long NowUnix => Now.ToUnixTimeSeconds();

    /// <summary>An identity whose 32-byte seed is <paramref name="seed"/> repeated.</summary>
    public static DrtIdentity Identity(byte seed)
    {
        byte[] raw = new byte[DrtIdentity.PrivateKeyLength];
        Array.Fill(raw, seed);
        return DrtIdentity.FromPrivateKey(raw);
    }

    /// <summary>An unsigned record of <paramref name="owner"/> under <paramref name="classifier"/>.</summary>
    public static SignedRecord Record(DrtIdentity owner, string classifier = "chat", ulong sequence = 1, ulong expires = 0, RecordFlags flags = RecordFlags.None, byte[]? appData = null)
    {
        WireEndpoint[] endpoints =
        [
            WireEndpoint.FromIPv4(0x7F00_0001, 40_001),
            WireEndpoint.FromIPEndPoint(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("2001:db8::7"), 40_002)),
        ];
        return new SignedRecord(
            owner.DeriveKey(classifier),
            owner.PublicKey.ToArray(),
            new byte[32],
            System.Text.Encoding.UTF8.GetBytes(classifier),
            endpoints,
            appData ?? [1, 2, 3, 4, 5],
            sequence,
            expires,
            flags,
            ReadOnlyMemory<byte>.Empty);
    }

    /// <summary><paramref name="record"/> signed by <paramref name="provider"/> for <paramref name="networkId"/>.</summary>
    public static SignedRecord Signed(ISecurityProvider provider, SignedRecord record, uint networkId = NetworkId)
    {
        byte[] signature = new byte[provider.SignatureLength];
        RecordSigning.Sign(provider, networkId, record, signature);
        return record with { Signature = signature };
    }

    /// <summary>A copy of <paramref name="bytes"/> with one bit flipped at <paramref name="index"/>.</summary>
    public static byte[] Flip(ReadOnlyMemory<byte> bytes, int index = 0)
    {
        byte[] copy = bytes.ToArray();
        copy[index] ^= 0x01;
        return copy;
    }
}
