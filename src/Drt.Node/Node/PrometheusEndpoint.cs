using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Text;
using Drt.Overlay;
using Microsoft.Extensions.Logging;

namespace Drt.Node.Node;

/// <summary>
/// Serves the <c>Drt.Overlay</c> meter as Prometheus text (exposition format 0.0.4) at <c>http://ADDRESS:PORT/metrics</c>,
/// 127.0.0.1 by default. A <see cref="MeterListener"/> reads the observable instruments at each scrape and keeps running
/// totals of the histograms; dots in instrument names become underscores, counters end in <c>_total</c>, and the units
/// By and s become <c>_bytes</c> and <c>_seconds</c>. A minimal handler on purpose: one meter, a few dozen series.
/// </summary>
internal sealed partial class PrometheusEndpoint : IAsyncDisposable
{
    /// <summary>Histogram bucket bounds by unit: hop counts, and durations in seconds.</summary>
    private static readonly double[] s_hopBuckets = [0, 1, 2, 3, 4, 5, 6, 8, 12, 22];
    private static readonly double[] s_secondBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly HttpListener _http = new();
    private readonly MeterListener _listener = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<(Instrument Instrument, string Labels), double> _observed = [];
    private readonly Dictionary<(Instrument Instrument, string Labels), Histogram> _histograms = [];
    private readonly HashSet<Instrument> _instruments = [];
    private readonly ILogger _log;
    private readonly Task _serving;
    private readonly CancellationTokenSource _stopping = new();

    private PrometheusEndpoint(ILogger log, string prefix)
    {
        _log = log;
        Url = prefix + "metrics";
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == DrtInstance.MeterName)
            {
                lock (_gate)
                {
                    _instruments.Add(instrument);
                }

                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.MeasurementsCompleted = (instrument, _) =>
        {
            lock (_gate)
            {
                _instruments.Remove(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.Start();
        _http.Prefixes.Add(prefix);
        _http.Start();
        _serving = ServeAsync();
    }

    /// <summary>Where the metrics are served.</summary>
    public string Url { get; }

    /// <summary>Listens on <paramref name="address"/>:<paramref name="port"/>.</summary>
    public static PrometheusEndpoint Start(IPAddress address, int port, ILogger log)
    {
        string host = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
        try
        {
            return new PrometheusEndpoint(log, $"http://{host}:{port.ToString(CultureInfo.InvariantCulture)}/");
        }
        catch (HttpListenerException error)
        {
            throw new IOException($"--metrics-port {port}: cannot listen on {host}:{port} ({error.Message}); choose another port", error);
        }
    }

    /// <summary>The current text of every series.</summary>
    public string Render()
    {
        lock (_gate)
        {
            _observed.Clear();
        }

        _listener.RecordObservableInstruments();
        var text = new StringBuilder();
        lock (_gate)
        {
            foreach (IGrouping<string, Instrument> family in _instruments.GroupBy(NameOf).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                Instrument first = family.First();
                string type = first switch
                {
                    ObservableCounter<long> or Counter<long> => "counter",
                    Histogram<int> or Histogram<double> => "histogram",
                    _ => "gauge",
                };
                text.Append("# HELP ").Append(family.Key).Append(' ').Append(first.Description?.Replace('\n', ' ')).Append('\n');
                text.Append("# TYPE ").Append(family.Key).Append(' ').Append(type).Append('\n');
                foreach (Instrument instrument in family)
                {
                    if (type == "histogram")
                    {
                        foreach (((Instrument i, string labels), Histogram h) in _histograms.Where(h => h.Key.Instrument == instrument).OrderBy(h => h.Key.Labels, StringComparer.Ordinal))
                        {
                            h.Write(text, family.Key, labels);
                        }

                        continue;
                    }

                    string name = type == "counter" ? family.Key + "_total" : family.Key;
                    foreach (((Instrument i, string labels), double value) in _observed.Where(o => o.Key.Instrument == instrument).OrderBy(o => o.Key.Labels, StringComparer.Ordinal))
                    {
                        text.Append(name).Append(labels.Length == 0 ? "" : "{" + labels + "}").Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
                    }
                }
            }
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _http.Stop();
        _http.Close();
        await _serving.ConfigureAwait(false);
        _listener.Dispose();
        _stopping.Dispose();
    }

    private static string NameOf(Instrument instrument)
    {
        string name = instrument.Name.Replace('.', '_');
        return instrument.Unit switch
        {
            "By" => name + "_bytes",
            "s" => name + "_seconds",
            _ => name,
        };
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags, IEnumerable<KeyValuePair<string, object?>>? meterTags)
    {
        var pairs = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (KeyValuePair<string, object?> tag in meterTags ?? [])
        {
            pairs[tag.Key.Replace('.', '_')] = Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "";
        }

        foreach (KeyValuePair<string, object?> tag in tags)
        {
            pairs[tag.Key.Replace('.', '_')] = Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "";
        }

        return string.Join(",", pairs.Select(p => $"{p.Key}=\"{p.Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}\""));
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string labels = Labels(tags, instrument.Meter.Tags);
        lock (_gate)
        {
            if (instrument is Histogram<int> or Histogram<double>)
            {
                if (!_histograms.TryGetValue((instrument, labels), out Histogram? histogram))
                {
                    histogram = new Histogram(instrument.Unit == "s" ? s_secondBuckets : s_hopBuckets);
                    _histograms[(instrument, labels)] = histogram;
                }

                histogram.Add(value);
            }
            else
            {
                // Observable counters and gauges report their current value at each scrape; several observations
                // with the same labels (one per instance of the same name) add up.
                _observed[(instrument, labels)] = _observed.GetValueOrDefault((instrument, labels)) + value;
            }
        }
    }

    private async Task ServeAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _http.GetContextAsync().WaitAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception error) when (error is OperationCanceledException or HttpListenerException or ObjectDisposedException)
            {
                break;
            }

            try
            {
                bool found = context.Request.Url?.AbsolutePath is "/metrics" or "/";
                byte[] body = Encoding.UTF8.GetBytes(found ? Render() : "not found: the metrics are at /metrics\n");
                context.Response.StatusCode = found ? 200 : 404;
                context.Response.ContentType = found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8";
                context.Response.ContentLength64 = body.Length;
                await context.Response.OutputStream.WriteAsync(body, _stopping.Token).ConfigureAwait(false);
                context.Response.Close();
            }
            catch (Exception error) when (error is HttpListenerException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                Log.ScrapeFailed(_log, error.Message);
            }
        }
    }

    /// <summary>Cumulative buckets, sum and count of one histogram series.</summary>
    private sealed class Histogram(double[] bounds)
    {
        private readonly long[] _counts = new long[bounds.Length];
        private long _count;
        private double _sum;

        public void Add(double value)
        {
            for (int i = 0; i < bounds.Length; i++)
            {
                if (value <= bounds[i])
                {
                    _counts[i]++;
                }
            }

            _count++;
            _sum += value;
        }

        public void Write(StringBuilder text, string name, string labels)
        {
            string prefix = labels.Length == 0 ? "" : labels + ",";
            for (int i = 0; i < bounds.Length; i++)
            {
                text.Append(name).Append("_bucket{").Append(prefix).Append("le=\"").Append(bounds[i].ToString("R", CultureInfo.InvariantCulture)).Append("\"} ").Append(_counts[i]).Append('\n');
            }

            text.Append(name).Append("_bucket{").Append(prefix).Append("le=\"+Inf\"} ").Append(_count).Append('\n');
            text.Append(name).Append("_sum").Append(labels.Length == 0 ? "" : "{" + labels + "}").Append(' ').Append(_sum.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
            text.Append(name).Append("_count").Append(labels.Length == 0 ? "" : "{" + labels + "}").Append(' ').Append(_count).Append('\n');
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 201, Level = LogLevel.Debug, Message = "Metrics scrape failed: {Error}")]
        public static partial void ScrapeFailed(ILogger logger, string error);
    }
}
