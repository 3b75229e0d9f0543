using Microsoft.Extensions.Logging;

namespace CheckpointCache.Perf.Framework;

/// <summary>What the framework hands a scenario: its options, its data folder, and where to report progress.</summary>
public sealed class ScenarioContext(ScenarioArgs args, string dataDirectory, MachineInfo machine, ILoggerFactory loggerFactory, TextWriter progress)
{
    public ScenarioArgs Args { get; } = args;

    /// <summary>The folder the scenario may fill and delete (--dir); it exists.</summary>
    public string DataDirectory { get; } = dataDirectory;

    public MachineInfo Machine { get; } = machine;

    /// <summary>For the code under test; the console shows warnings and above unless --verbose.</summary>
    public ILoggerFactory LoggerFactory { get; } = loggerFactory;

    /// <summary>Progress lines go to stderr, so stdout stays the report.</summary>
    public void Progress(string line) => progress.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}");
}
