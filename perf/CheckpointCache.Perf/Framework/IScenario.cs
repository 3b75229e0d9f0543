namespace CheckpointCache.Perf.Framework;

/// <summary>
/// One benchmark, selected by <see cref="Name"/> on the command line. Adding a scenario is adding one
/// class that implements this (in Scenarios/): <see cref="ScenarioRegistry"/> finds it by reflection.
/// </summary>
public interface IScenario
{
    /// <summary>Command-line name, lower case.</summary>
    string Name { get; }

    /// <summary>One line for the usage text.</summary>
    string Summary { get; }

    /// <summary>The scenario's own options, one per line, for the usage text.</summary>
    string Options { get; }

    /// <summary>
    /// Reads the scenario's options. Called before anything runs, so that an unknown option (a typo)
    /// stops the program before a long run with defaults.
    /// </summary>
    void Configure(ScenarioArgs args);

    /// <summary>Runs and returns the rows and ratios to report.</summary>
    Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken cancellationToken);
}
