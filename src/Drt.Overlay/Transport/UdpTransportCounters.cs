namespace Drt.Overlay.Transport;

/// <summary>What a <see cref="UdpTransport"/> sent, received and survived. Safe to read from any thread.</summary>
public sealed class UdpTransportCounters
{
    private long _sent;
    private long _bytesSent;
    private long _sendFailures;
    private long _received;
    private long _bytesReceived;
    private long _oversized;
    private long _emptyDatagrams;
    private long _connectionResets;
    private long _receiveErrors;
    private long _receiverExceptions;
    private long _wakes;

    /// <summary>Datagrams handed to the socket.</summary>
    public long Sent => Volatile.Read(ref _sent);

    /// <summary>Bytes in <see cref="Sent"/>.</summary>
    public long BytesSent => Volatile.Read(ref _bytesSent);

    /// <summary>Sends refused: closed, larger than the cap, an address the socket cannot reach, or a socket error.</summary>
    public long SendFailures => Volatile.Read(ref _sendFailures);

    /// <summary>Datagrams handed to the receiver.</summary>
    public long Received => Volatile.Read(ref _received);

    /// <summary>Bytes in <see cref="Received"/>.</summary>
    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    /// <summary>Datagrams dropped for exceeding <see cref="UdpTransportOptions.MaxDatagramSize"/>.</summary>
    public long Oversized => Volatile.Read(ref _oversized);

    /// <summary>Zero-length datagrams that were not a pending wake (anyone can send one; they only cost a wake check).</summary>
    public long EmptyDatagrams => Volatile.Read(ref _emptyDatagrams);

    /// <summary>ICMP-triggered resets the receive loop survived (port unreachable reported on the socket).</summary>
    public long ConnectionResets => Volatile.Read(ref _connectionResets);

    /// <summary>Other transient receive errors the loop survived.</summary>
    public long ReceiveErrors => Volatile.Read(ref _receiveErrors);

    /// <summary>Exceptions thrown by the receiver; the loop logs nothing, counts them and goes on.</summary>
    public long ReceiverExceptions => Volatile.Read(ref _receiverExceptions);

    /// <summary><see cref="IDatagramReceiver.OnWake"/> calls made.</summary>
    public long Wakes => Volatile.Read(ref _wakes);

    internal void AddSent(int bytes)
    {
        Interlocked.Increment(ref _sent);
        Interlocked.Add(ref _bytesSent, bytes);
    }

    // The delivery counters (received, wakes, receiver exceptions) are written inside deliveries, which never overlap
    // (one receive thread, or the delivery lock): plain increments, read with Volatile. The rare ones each receive
    // thread counts on its own (errors, oversized and empty datagrams) are interlocked.
    internal void AddReceived(int bytes)
    {
        _received++;
        _bytesReceived += bytes;
    }

    internal void AddSendFailure() => Interlocked.Increment(ref _sendFailures);

    internal void AddOversized() => Interlocked.Increment(ref _oversized);

    internal void AddEmptyDatagram() => Interlocked.Increment(ref _emptyDatagrams);

    internal void AddConnectionReset() => Interlocked.Increment(ref _connectionResets);

    internal void AddReceiveError() => Interlocked.Increment(ref _receiveErrors);

    internal void AddReceiverException() => _receiverExceptions++;

    internal void AddWake() => _wakes++;
}
