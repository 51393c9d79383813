using System.Net;
using BenchmarkDotNet.Attributes;
using Drt.Overlay.Simulation;
using Drt.Overlay.Transport;

namespace Drt.Overlay.Benchmarks;

/// <summary>
/// The simulator's cost per datagram, which bounds how many nodes fit in a run: one datagram sent through a
/// <see cref="SimulatedNetwork"/> and delivered by the scheduler, against the baseline of one bare scheduler event.
/// </summary>
[MemoryDiagnoser]
public class SimulationBenchmarks
{
    private const int Batch = 1_000;
    private readonly byte[] _payload = new byte[200];
    private VirtualTimeScheduler _scheduler = null!;
    private SimulatedTransport _sender = null!;
    private SocketAddress _destination = null!;

    [GlobalSetup]
    public void Setup()
    {
        _scheduler = new VirtualTimeScheduler();
        var network = new SimulatedNetwork(_scheduler, seed: 1, new LinkProfile { Spread = TimeSpan.FromMilliseconds(50), Jitter = TimeSpan.FromMilliseconds(1) });

        // A thousand endpoints so that the address lookup works on a realistically sized table.
        for (int i = 0; i < 1_000; i++)
        {
            network.CreateTransport().Start(Sink.Instance);
        }

        _sender = network.Transports[0];
        _destination = network.Transports[500].EndPoint.Serialize();
    }

    /// <summary>Baseline: schedule and run one event with no network behind it.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public void SchedulerEvent()
    {
        for (int i = 0; i < Batch; i++)
        {
            _scheduler.Schedule(TimeSpan.TicksPerMillisecond, NoOp.Instance, i, 0);
        }

        _scheduler.RunUntilIdle();
    }

    /// <summary>Send one 200-byte datagram and deliver it: resolve, link decisions, copy, schedule, deliver.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void SendAndDeliver()
    {
        for (int i = 0; i < Batch; i++)
        {
            _sender.TrySend(_payload, _destination);
        }

        _scheduler.RunUntilIdle();
    }

    private sealed class NoOp : VirtualTimeScheduler.IScheduledEvent
    {
        public static readonly NoOp Instance = new();

        public void Run(long argument, int generation)
        {
        }
    }

    private sealed class Sink : IDatagramReceiver
    {
        public static readonly Sink Instance = new();

        public void OnDatagram(ReadOnlyMemory<byte> datagram, SocketAddress source)
        {
        }

        public void OnWake()
        {
        }
    }
}
