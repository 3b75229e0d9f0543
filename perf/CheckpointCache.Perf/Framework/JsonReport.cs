using System.Text.Json;
using System.Text.Json.Nodes;

namespace CheckpointCache.Perf.Framework;

/// <summary>The machine-readable report: scenario, command, machine, options, rows, ratios, notes.</summary>
public static class JsonReport
{
    public static void Write(string path, string scenario, string command, MachineInfo machine, IReadOnlyDictionary<string, object?> options,
        ScenarioResult result, DateTimeOffset started, TimeSpan duration)
    {
        var root = new JsonObject
        {
            ["scenario"] = scenario,
            ["command"] = command,
            ["started"] = started.ToString("O"),
            ["duration_s"] = Math.Round(duration.TotalSeconds, 1),
            ["machine"] = JsonSerializer.SerializeToNode(machine, Options),
            ["options"] = JsonSerializer.SerializeToNode(options, Options),
            ["rows"] = JsonSerializer.SerializeToNode(result.Rows, Options),
            ["ratios"] = JsonSerializer.SerializeToNode(result.Ratios.ToDictionary(r => r.Key, r => Math.Round(r.Value, 3)), Options),
            ["notes"] = JsonSerializer.SerializeToNode(result.Notes, Options),
            ["failures"] = JsonSerializer.SerializeToNode(result.Failures, Options),
        };
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, root.ToJsonString(Options) + Environment.NewLine);
    }

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // a file, not HTML: keep "+" readable
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
