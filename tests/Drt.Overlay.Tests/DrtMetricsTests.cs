using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Engine;
using Drt.Overlay.Wire;
using Drt.Overlay.Wire.Protocol;
using Xunit;
using static Drt.Overlay.Tests.FacadeTestKit;

namespace Drt.Overlay.Tests;

/// <summary>
/// The <c>Drt.Overlay</c> meter as a <see cref="MeterListener"/> sees it: two instances over loopback UDP, each under
/// its own <c>drt.instance</c> tag. Waits are bounded polls; nothing asserts a duration.
/// </summary>
public sealed class DrtMetricsTests
{
    private const string FirstName = "metrics-first";
    private const string SecondName = "metrics-second";

    [Fact]
    public async Task TwoInstancesReportTrafficSearchesTablesAndStatusEachUnderItsOwnNameUntilClosed()
    {
        var random = new Random(401);
        using var recorder = new MetricsRecorder(FirstName, SecondName);
        await using DrtInstance first = await DrtInstance.OpenAsync(Settings(FirstName), Cancel);
        await using DrtInstance second = await DrtInstance.OpenAsync(Settings(SecondName) with { BootstrapProvider = new StaticBootstrapProvider([Loopback(first)]) }, Cancel);
        Key256 mine = Key256.Random(random);
        DrtRegistration registration = await second.RegisterKeyAsync(mine, "hello"u8.ToArray(), Cancel);
        await first.RegisterKeyAsync(Key256.Random(random), "there"u8.ToArray(), Cancel);
        await SearchUntilFound(first, mine, second); // polls: some of its searches may find nothing yet

        // Kilobytes of data: from now on the owner's answer travels as fragments.
        await registration.UpdateAsync(new byte[5_000], Cancel);

        // From here every search's outcome is known: three found, one not found, one cancelled and one timed out. The
        // last two are iterative searches held at their first hop, so neither can end by itself first.
        long foundBefore = recorder.Collect().Value("drt.searches", FirstName, ("outcome", "found"));
        long notFoundBefore = recorder.Collect().Value("drt.searches", FirstName, ("outcome", "not_found"));
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(5_000, Assert.Single(await ResultsOf(await first.SearchAsync(mine, null, Cancel))).AppData.Length);
        }

        Assert.Empty(await ResultsOf(await first.SearchAsync(Key256.Random(random), null, Cancel)));
        var wholeRing = new DrtSearchOptions { Iterative = true, MinKey = Key256.Zero, MaxKey = Key256.MaxValue, Timeout = TimeSpan.FromSeconds(2) };
        DrtSearch cancelled = await first.SearchAsync(Key256.Random(random), wholeRing, Cancel);
        await foreach (DrtSearchResult result in cancelled.WithCancellation(Cancel))
        {
            Assert.Equal(DrtMatch.Intermediate, result.Match);
            break;
        }

        DrtSearch timedOut = await first.SearchAsync(Key256.Random(random), wholeRing, Cancel);
        Assert.All(await ResultsOf(timedOut), r => Assert.Equal(DrtMatch.Intermediate, r.Match)); // never continued
        Assert.True(timedOut.TimedOut);
        Assert.False(cancelled.TimedOut);

        // A hostile datagram: not ours at all, so dropped at the header as bad_magic.
        using (var hostile = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
        {
            await hostile.SendAsync(new byte[40], Loopback(first), Cancel);
        }

        Collection seen = await PollUntil(recorder, c =>
            c.Value("drt.datagrams.dropped", FirstName, ("reason", "bad_magic")) > 0
            && c.Value("drt.searches", FirstName, ("outcome", "cancelled")) == 1
            && c.Value("drt.searches", FirstName, ("outcome", "timed_out")) == 1);
        Assert.Equal(first.Engine.Counters.Dropped(DecodeStatus.BadMagic), seen.Value("drt.datagrams.dropped", FirstName, ("reason", "bad_magic")));

        // Searches by outcome, exactly; only the searching instance has any.
        Assert.Equal(foundBefore + 3, seen.Value("drt.searches", FirstName, ("outcome", "found")));
        Assert.Equal(notFoundBefore + 1, seen.Value("drt.searches", FirstName, ("outcome", "not_found")));
        Assert.Empty(seen.Of("drt.searches", SecondName));
        long searches = seen.Value("drt.searches", FirstName);

        // One hops measurement per search that found something, one duration per search, the RTT of every answer.
        Assert.Equal(seen.Value("drt.searches", FirstName, ("outcome", "found")), recorder.Recorded("drt.search.hops", FirstName).Count);
        Assert.All(recorder.Recorded("drt.search.hops", FirstName), h => Assert.InRange(h.Value, 1, 22));
        Assert.Equal(searches, recorder.Recorded("drt.search.duration", FirstName).Count);
        Assert.Equal(1, recorder.Recorded("drt.search.duration", FirstName).Count(m => m.Tag("outcome") == "timed_out"));
        Assert.NotEmpty(recorder.Recorded("drt.search.hop.rtt", FirstName));
        Assert.All(recorder.Recorded("drt.search.hop.rtt", FirstName), m => Assert.True(m.Value > 0));
        Assert.Empty(recorder.Recorded("drt.search.hops", SecondName));

        // Traffic by message type, each way, for the types the searches used.
        foreach ((string sent, string received) in new[] { ("lookup", "lookup_reply"), ("inquire", "authority") })
        {
            Assert.True(seen.Value("drt.datagrams.sent", FirstName, ("message_type", sent)) > 0, sent);
            Assert.True(seen.Value("drt.bytes.sent", FirstName, ("message_type", sent)) > 0, sent);
            Assert.True(seen.Value("drt.datagrams.received", FirstName, ("message_type", received)) > 0, received);
            Assert.True(seen.Value("drt.bytes.received", FirstName, ("message_type", received)) > 0, received);
            Assert.True(seen.Value("drt.datagrams.received", SecondName, ("message_type", sent)) > 0, sent);
            Assert.True(seen.Value("drt.datagrams.sent", SecondName, ("message_type", received)) > 0, received);
        }

        Assert.True(seen.Value("drt.datagrams.received", FirstName, ("message_type", "unknown")) > 0); // the hostile one
        long fragmentsIn = seen.Value("drt.datagrams.received", FirstName, ("message_type", "fragment"));
        Assert.InRange(fragmentsIn, 3 * 4, seen.Value("drt.datagrams.sent", SecondName, ("message_type", "fragment"))); // 5 KB: 4+ fragments per answer
        Assert.True(seen.Value("drt.bytes.sent", FirstName, ("message_type", "lookup")) > seen.Value("drt.datagrams.sent", FirstName, ("message_type", "lookup")));

        // Tables: what the engine itself reports (its snapshot trails it by a fraction of a second, hence the poll).
        foreach (DrtInstance instance in new[] { first, second })
        {
            (int leafSet, int routes) = await instance.InvokeAsync(_ => (instance.Engine.Keys.Sum(k => k.LeafSet.Smaller.Length + k.LeafSet.Larger.Length), instance.Engine.Keys.Sum(k => k.Routes.Count)));
            Collection tables = await PollUntil(recorder, c =>
                c.Value("drt.leafset.size", instance.InstanceName) == leafSet && c.Value("drt.routing_table.entries", instance.InstanceName) == routes);
            Assert.True(leafSet > 0, Describe(instance));
            Assert.Equal(1, tables.Value("drt.registrations", instance.InstanceName));
            Assert.Equal(1, tables.Value("drt.status", instance.InstanceName, ("status", "active")));
            Assert.Equal(0, tables.Value("drt.status", instance.InstanceName, ("status", "alone")));
            Assert.Equal(4, tables.Of("drt.status", instance.InstanceName).Count);
        }

        // Every measurement names its instance, and so does its meter.
        Collection all = recorder.Collect();
        Assert.All(all.Measurements, m => Assert.Contains(m.Tag(DrtMetrics.InstanceTag), new[] { FirstName, SecondName }));
        Assert.All(all.Measurements, m => Assert.Equal(m.Tag(DrtMetrics.InstanceTag), m.MeterInstance));

        // Closed: the instance's instruments end, and only the other one still reports.
        int instruments = recorder.InstrumentsOf(SecondName);
        await second.CloseAsync();
        Assert.Equal(instruments, recorder.CompletedOf(SecondName));
        Collection afterClose = recorder.Collect();
        Assert.DoesNotContain(afterClose.Measurements, m => m.Tag(DrtMetrics.InstanceTag) == SecondName);
        Assert.Equal(1, afterClose.Value("drt.registrations", FirstName));
    }

    [Fact]
    public void EveryMessageTypeAndDropReasonHasItsOwnLowerSnakeCaseName()
    {
        var names = new HashSet<string>();
        for (int i = 0; i <= (int)MessageTypes.Last; i++)
        {
            string name = DrtMetrics.NameOf((MessageType)i);
            Assert.Matches("^[a-z]+(_[a-z]+)*$", name);
            Assert.True(names.Add(name), name);
        }

        names.Clear();
        foreach (DecodeStatus status in Enum.GetValues<DecodeStatus>())
        {
            string name = DrtMetrics.NameOf(status);
            Assert.Matches("^[a-z]+(_[a-z]+)*$", name);
            Assert.True(names.Add(name), name);
        }

        Assert.Equal("unknown", DrtMetrics.NameOf(EngineCounters.NoHeader));
    }

    /// <summary>Bounded poll: collects every 100 ms, at most 100 times, until <paramref name="done"/> holds.</summary>
    private static async Task<Collection> PollUntil(MetricsRecorder recorder, Func<Collection, bool> done)
    {
        Collection collection = recorder.Collect();
        for (int i = 0; i < 100 && !done(collection); i++)
        {
            await Task.Delay(100, Cancel);
            collection = recorder.Collect();
        }

        Assert.True(done(collection), $"the instruments never got there: {collection}");
        return collection;
    }

    /// <summary>One measurement: the instrument, the value, its tags and the <c>drt.instance</c> tag of its meter.</summary>
    private sealed record Measured(string Instrument, double Value, KeyValuePair<string, object?>[] Tags, string? MeterInstance)
    {
        public string? Tag(string key) => Tags.FirstOrDefault(t => t.Key == key).Value as string;

        public override string ToString() => $"{Instrument}={Value} [{string.Join(",", Tags.Select(t => $"{t.Key}={t.Value}"))}]";
    }

    /// <summary>What one collection of the observable instruments reported.</summary>
    private sealed record Collection(List<Measured> Measurements)
    {
        public List<Measured> Of(string instrument, string instance) =>
            [.. Measurements.Where(m => m.Instrument == instrument && m.Tag(DrtMetrics.InstanceTag) == instance)];

        /// <summary>The value of the series with <paramref name="tag"/>, or 0 when it was not reported.</summary>
        public long Value(string instrument, string instance, (string Key, string Value)? tag = null) =>
            (long)Of(instrument, instance).Where(m => tag is not { } t || m.Tag(t.Key) == t.Value).Sum(m => m.Value);

        public override string ToString() => string.Join("; ", Measurements);
    }

    /// <summary>
    /// Listens to the meters of the named instances only (other tests open instances at the same time): histograms as
    /// they are recorded, observable instruments when <see cref="Collect"/> asks.
    /// </summary>
    private sealed class MetricsRecorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly HashSet<string> _instances;
        private readonly List<Measured> _recorded = [];
        private readonly List<Measured> _collected = [];
        private readonly Dictionary<string, int> _enabled = [];
        private readonly Dictionary<string, int> _completed = [];
        private bool _collecting;

        public MetricsRecorder(params string[] instances)
        {
            _instances = [.. instances];
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == DrtInstance.MeterName && InstanceOf(instrument) is { } name && _instances.Contains(name))
                {
                    lock (_enabled)
                    {
                        _enabled[name] = _enabled.GetValueOrDefault(name) + 1;
                    }

                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.MeasurementsCompleted = (instrument, _) =>
            {
                lock (_enabled)
                {
                    string name = InstanceOf(instrument)!;
                    _completed[name] = _completed.GetValueOrDefault(name) + 1;
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, value, tags));
            _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Add(instrument, value, tags));
            _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Add(instrument, value, tags));
            _listener.Start();
        }

        public int InstrumentsOf(string instance)
        {
            lock (_enabled)
            {
                return _enabled.GetValueOrDefault(instance);
            }
        }

        public int CompletedOf(string instance)
        {
            lock (_enabled)
            {
                return _completed.GetValueOrDefault(instance);
            }
        }

        /// <summary>Histogram measurements of <paramref name="instrument"/> recorded so far for <paramref name="instance"/>.</summary>
        public List<Measured> Recorded(string instrument, string instance)
        {
            lock (_recorded)
            {
                return [.. _recorded.Where(m => m.Instrument == instrument && m.Tag(DrtMetrics.InstanceTag) == instance)];
            }
        }

        /// <summary>Reads every observable instrument once.</summary>
        public Collection Collect()
        {
            lock (_collected)
            {
                _collected.Clear();
                _collecting = true;
                _listener.RecordObservableInstruments();
                _collecting = false;
                return new Collection([.. _collected]);
            }
        }

        public void Dispose() => _listener.Dispose();

        private static string? InstanceOf(Instrument instrument) =>
            instrument.Meter.Tags?.FirstOrDefault(t => t.Key == DrtMetrics.InstanceTag).Value as string;

        private void Add<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
            where T : struct
        {
            var measured = new Measured(instrument.Name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), tags.ToArray(), InstanceOf(instrument));
            if (instrument.IsObservable)
            {
                // Observable instruments report only inside Collect, on its thread, which holds the lock.
                Assert.True(_collecting);
                _collected.Add(measured);
                return;
            }

            lock (_recorded)
            {
                _recorded.Add(measured);
            }
        }
    }
}
