using System.Text;
using System.Text.Json;
using Drt.Node.Control;

namespace Drt.Node.Cli;

/// <summary>
/// How commands print: a readable table by default, or with <c>--json</c> one JSON object per line (the fields are
/// documented in docs/cli.md). App data prints as UTF-8 text when it is valid UTF-8, else as base64.
/// </summary>
internal sealed class Output(TextWriter writer, bool json)
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public bool Json => json;

    /// <summary>Search results, one line (or JSON object) each.</summary>
    public void Results(IReadOnlyList<ControlSearchResult> results, bool timedOut)
    {
        if (json)
        {
            foreach (ControlSearchResult result in results)
            {
                WriteJson(w =>
                {
                    w.WriteString("match", result.Match);
                    w.WriteString("key", result.Key);
                    WriteData(w, result.Data);
                    w.WriteStartArray("endpoints");
                    foreach (string endpoint in result.Endpoints)
                    {
                        w.WriteStringValue(endpoint);
                    }

                    w.WriteEndArray();
                    w.WriteNumber("hops", result.Hops);
                });
            }

            if (timedOut)
            {
                WriteJson(w => w.WriteBoolean("timed_out", true));
            }

            return;
        }

        if (results.Count == 0)
        {
            writer.WriteLine(timedOut ? "nothing found before the timeout" : "nothing found");
            return;
        }

        Table(
            ["MATCH", "KEY", "HOPS", "ENDPOINTS", "DATA"],
            [.. results.Select(r => new[] { r.Match, r.Key, r.Hops.ToString(System.Globalization.CultureInfo.InvariantCulture), string.Join(",", r.Endpoints), TextOf(r.Data) })]);
        if (timedOut)
        {
            writer.WriteLine("(the search timed out; these are the results it had)");
        }
    }

    /// <summary>A register/update/unregister/route answer.</summary>
    public void Done(string verb, string key, string? outcome = null)
    {
        if (json)
        {
            WriteJson(w =>
            {
                w.WriteString("key", key);
                if (outcome is not null)
                {
                    w.WriteString("outcome", outcome);
                }
            });
        }
        else
        {
            writer.WriteLine(outcome is null ? $"{verb} {key}" : $"{verb} {key}: {outcome}");
        }
    }

    /// <summary>A node's status.</summary>
    public void Status(ControlStatus status)
    {
        if (json)
        {
            WriteJson(w =>
            {
                w.WriteString("state", status.State);
                w.WriteString("name", status.Name);
                w.WriteStartArray("endpoints");
                foreach (string endpoint in status.Endpoints)
                {
                    w.WriteStringValue(endpoint);
                }

                w.WriteEndArray();
                w.WriteStartArray("registrations");
                foreach (ControlRegistration registration in status.Registrations)
                {
                    w.WriteStartObject();
                    w.WriteString("key", registration.Key);
                    w.WriteStartObject("leafset");
                    WriteKeys(w, "smaller", registration.Smaller);
                    WriteKeys(w, "larger", registration.Larger);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteNumber("routing_entries", status.RoutingEntries);
                w.WriteNumber("known_peers", status.KnownPeers);
                w.WriteNumber("estimated_network_size", status.EstimatedNetworkSize);
            });
            return;
        }

        writer.WriteLine($"{status.Name}: {status.State} on {string.Join(", ", status.Endpoints)}");
        writer.WriteLine($"routing entries {status.RoutingEntries}, known peers {status.KnownPeers}, estimated ring size {status.EstimatedNetworkSize}");
        if (status.Registrations.Count == 0)
        {
            writer.WriteLine("no registrations (resolve-only)");
            return;
        }

        Table(
            ["KEY", "LEAF SET (smaller | larger, nearest first)"],
            [.. status.Registrations.Select(r => new[] { r.Key, $"{r.Smaller.Count} | {r.Larger.Count}: {string.Join(" ", r.Smaller.Select(Short))} | {string.Join(" ", r.Larger.Select(Short))}" })]);
    }

    /// <summary>Columns padded to their widest cell.</summary>
    public void Table(string[] header, IReadOnlyList<string[]> rows)
    {
        int[] widths = [.. header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length)))];
        writer.WriteLine(string.Join("  ", header.Select((h, i) => i == header.Length - 1 ? h : h.PadRight(widths[i]))));
        foreach (string[] row in rows)
        {
            writer.WriteLine(string.Join("  ", row.Select((c, i) => i == row.Length - 1 ? c : c.PadRight(widths[i]))));
        }
    }

    /// <summary>Writes one JSON object on one line.</summary>
    public void WriteJson(Action<Utf8JsonWriter> fields)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            fields(w);
            w.WriteEndObject();
        }

        writer.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    /// <summary>App data as text when it is valid UTF-8 without control characters, else base64 in brackets.</summary>
    public static string TextOf(byte[] data)
    {
        string? text = Utf8(data);
        return text is not null && !text.Any(char.IsControl) ? text : $"base64:{Convert.ToBase64String(data)}";
    }

    private static void WriteData(Utf8JsonWriter w, byte[] data)
    {
        if (Utf8(data) is { } text)
        {
            w.WriteString("data", text);
        }
        else
        {
            w.WriteString("data_base64", Convert.ToBase64String(data));
        }
    }

    private static string? Utf8(byte[] data)
    {
        try
        {
            return s_strictUtf8.GetString(data);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    private static void WriteKeys(Utf8JsonWriter w, string name, List<string> keys)
    {
        w.WriteStartArray(name);
        foreach (string key in keys)
        {
            w.WriteStringValue(key);
        }

        w.WriteEndArray();
    }

    private static string Short(string key) => key[..8];
}
