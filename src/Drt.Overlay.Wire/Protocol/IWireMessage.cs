using MessagePack;

namespace Drt.Overlay.Wire.Protocol;

/// <summary>
/// A message body: a struct that writes itself over <see cref="MessagePackWriter"/> and reads itself, validated,
/// from a <see cref="WireReader"/>. Generic code over this interface is specialised per struct, so encode and decode
/// neither box nor allocate.
/// </summary>
internal interface IWireMessage<T>
    where T : struct, IWireMessage<T>
{
    /// <summary>The header type of this message.</summary>
    static abstract MessageType Type { get; }

    /// <summary>Writes the body.</summary>
    void Write(ref MessagePackWriter writer);

    /// <summary>Reads and validates a body; never throws.</summary>
    static abstract DecodeStatus TryRead(ref WireReader reader, out T value);
}
