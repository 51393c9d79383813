using Microsoft.Extensions.Configuration;

namespace Drt.Node.Node;

/// <summary>
/// A list setting read whole from the last configuration source that gives it, rather than merged index by index as the
/// binder does (a JSON <c>["a", "b", "c"]</c> under <c>DRT_BIND__0=x</c> would bind as x, b, c). A source gives a list
/// as children (<c>"Bind": [ ... ]</c>, <c>DRT_BIND__0</c>, <c>DRT_BIND__1</c>) or as one value, comma-separated
/// (<c>"Bind": "::"</c>, <c>DRT_BIND=127.0.0.1,::1</c>), which the binder would drop without a word.
/// </summary>
internal static class ConfigurationLists
{
    /// <summary>The entries of <paramref name="key"/> from the last source that has it; null when none has.</summary>
    public static List<string>? Read(IConfigurationRoot configuration, string key)
    {
        IList<IConfigurationProvider> providers = [.. configuration.Providers];
        for (int p = providers.Count - 1; p >= 0; p--)
        {
            IConfigurationProvider provider = providers[p];
            List<string> indices = [.. provider.GetChildKeys([], key).Distinct(StringComparer.OrdinalIgnoreCase)];
            if (indices.Count > 0)
            {
                // Children in index order (0, 1, ... 10), whatever order the source listed them in.
                indices.Sort((x, y) => int.TryParse(x, out int a) && int.TryParse(y, out int b) ? a.CompareTo(b) : string.CompareOrdinal(x, y));
                var entries = new List<string>(indices.Count);
                foreach (string index in indices)
                {
                    if (provider.TryGet($"{key}{ConfigurationPath.KeyDelimiter}{index}", out string? entry) && !string.IsNullOrWhiteSpace(entry))
                    {
                        entries.Add(entry.Trim());
                    }
                }

                return entries;
            }

            if (provider.TryGet(key, out string? value))
            {
                return NodeOptions.Flatten([value ?? ""]);
            }
        }

        return null;
    }
}
