using System.Globalization;
using CheckpointCache.Engine.Options;

namespace CheckpointCache.Perf.Framework;

/// <summary>
/// "--name value" and "--flag" options. Scenarios ask for what they know; whatever nobody asked
/// for is an error (a typo must not silently run the default benchmark).
/// </summary>
public sealed class ScenarioArgs
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);
    private readonly Dictionary<string, object?> _effective = new(StringComparer.Ordinal);

    public ScenarioArgs(IReadOnlyList<string> args)
    {
        for (int i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
                throw new ArgumentException($"unexpected argument '{arg}'; options look like --name value");
            var name = arg[2..];
            string? value = null;
            int eq = name.IndexOf('=');
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }
            _values[name] = value;
        }
    }

    /// <summary>The options as the run used them, defaults included, for the JSON report.</summary>
    public IReadOnlyDictionary<string, object?> Effective => _effective;

    /// <summary>Replaces how an option is shown in the report (e.g. a path made repository-relative).</summary>
    public void ShowAs(string name, object? value) => _effective[name] = value;

    public bool Has(string name)
    {
        _used.Add(name);
        return _values.ContainsKey(name);
    }

    public string String(string name, string defaultValue)
    {
        var value = Raw(name) ?? defaultValue;
        _effective[name] = value;
        return value;
    }

    public string? OptionalString(string name)
    {
        var value = Raw(name);
        _effective[name] = value;
        return value;
    }

    public bool Flag(string name)
    {
        bool on = Has(name) && _values[name] is null or "true" or "1" or "yes";
        _effective[name] = on;
        return on;
    }

    public int Int(string name, int defaultValue)
    {
        var raw = Raw(name);
        int value = raw is null ? defaultValue : int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
            ? v : throw new ArgumentException($"--{name} expects an integer, not '{raw}'");
        _effective[name] = value;
        return value;
    }

    public double Double(string name, double defaultValue)
    {
        var raw = Raw(name);
        double value = raw is null ? defaultValue : double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? v : throw new ArgumentException($"--{name} expects a number, not '{raw}'");
        _effective[name] = value;
        return value;
    }

    public ByteSize Size(string name, ByteSize defaultValue)
    {
        var raw = Raw(name);
        var value = raw is null ? defaultValue : ByteSize.TryParse(raw, out var v)
            ? v : throw new ArgumentException($"--{name} expects a size such as 256k, 1m, 4MiB or 1GiB, not '{raw}'");
        _effective[name] = value.ToString();
        return value;
    }

    public IReadOnlyList<ByteSize> Sizes(string name, string defaultValue)
    {
        var raw = Raw(name) ?? defaultValue;
        var sizes = raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => ByteSize.TryParse(s, out var v) ? v : throw new ArgumentException($"--{name}: '{s}' is not a size"))
            .ToList();
        if (sizes.Count == 0) throw new ArgumentException($"--{name} needs at least one size");
        _effective[name] = raw;
        return sizes;
    }

    /// <summary>Throws if an option was given that no one asked for.</summary>
    public void RejectUnknown(string scenario)
    {
        var unknown = _values.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"scenario '{scenario}' does not know {string.Join(", ", unknown.Select(u => "--" + u))}");
    }

    private string? Raw(string name)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out var value)) return null;
        return value ?? throw new ArgumentException($"--{name} needs a value");
    }
}
