using System.Net;
using Drt.Node.Node;
using Drt.Overlay;
using Drt.Overlay.Bootstrap;
using Drt.Overlay.Wire;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Drt.Node.Tests;

/// <summary><c>drt node --metrics-port</c>: the Drt.Overlay meter as Prometheus text over HTTP on loopback.</summary>
public sealed class PrometheusEndpointTests
{
    [Fact]
    public async Task TheMeterIsServedAsPrometheusTextWithEveryStatusSeriesAndTheSearchHistograms()
    {
        var settings = new DrtSettings { InstanceName = "prom-a", BindAddress = IPAddress.Loopback, MaintenancePeriod = TimeSpan.FromMilliseconds(500) };
        await using DrtInstance a = await DrtInstance.OpenAsync(settings, DrtProcess.Cancel);
        await using DrtInstance b = await DrtInstance.OpenAsync(settings with { InstanceName = "prom-b", BootstrapProvider = new StaticBootstrapProvider([new IPEndPoint(IPAddress.Loopback, a.LocalEndpoints[0].Port)]) }, DrtProcess.Cancel);
        // Histograms count what happens while the endpoint listens, as drt node starts it right after opening.
        await using PrometheusEndpoint endpoint = PrometheusEndpoint.Start(IPAddress.Loopback, FreePort(), NullLogger.Instance);
        Key256 key = Key256.Parse(new string('4', 64));
        await a.RegisterKeyAsync(key, "x"u8.ToArray(), DrtProcess.Cancel);
        await b.RegisterKeyAsync(Key256.Parse(new string('8', 64)), "y"u8.ToArray(), DrtProcess.Cancel);
        for (int i = 0; i < 40; i++)
        {
            DrtSearch search = await b.SearchAsync(key, new DrtSearchOptions { Timeout = TimeSpan.FromSeconds(3) }, DrtProcess.Cancel);
            int found = 0;
            await foreach (DrtSearchResult _ in search.WithCancellation(DrtProcess.Cancel))
            {
                found++;
            }

            if (found == 1)
            {
                break;
            }

            await Task.Delay(250, DrtProcess.Cancel);
        }

        using var http = new HttpClient();
        HttpResponseMessage response = await http.GetAsync(endpoint.Url, DrtProcess.Cancel);
        string text = await response.Content.ReadAsStringAsync(DrtProcess.Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);

        // One series per status, per instance; counters end in _total; units in the names; histograms with buckets.
        foreach (string status in new[] { "active", "alone", "no_network", "faulted" })
        {
            Assert.Contains($"drt_status{{drt_instance=\"prom-b\",status=\"{status}\"}} {(status == "active" ? 1 : 0)}", text);
        }

        Assert.Contains("# TYPE drt_datagrams_sent counter", text);
        Assert.Matches("drt_datagrams_sent_total\\{drt_instance=\"prom-b\",message_type=\"lookup\"\\} [1-9]", text);
        Assert.Matches("drt_bytes_received_bytes_total\\{drt_instance=\"prom-a\",message_type=\"lookup\"\\} [1-9]", text);
        Assert.Contains("drt_registrations{drt_instance=\"prom-a\"} 1", text);
        Assert.Contains("# TYPE drt_search_hops histogram", text);
        Assert.Matches("drt_search_hops_bucket\\{drt_instance=\"prom-b\",le=\"\\+Inf\"\\} [1-9]", text);
        Assert.Matches("drt_searches_total\\{drt_instance=\"prom-b\",outcome=\"found\"\\} 1", text);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(endpoint.Url.Replace("/metrics", "/nothing", StringComparison.Ordinal), DrtProcess.Cancel)).StatusCode);
    }

    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
