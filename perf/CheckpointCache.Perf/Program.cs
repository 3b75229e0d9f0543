using System.Diagnostics;
using System.Reflection;
using CheckpointCache.Perf.Framework;
using Microsoft.Extensions.Logging;

// dotnet run -c Release --project perf/CheckpointCache.Perf -- SCENARIO [options] [--json FILE]
// Prints the command, the machine, a markdown table and ratios; writes the same as JSON with --json.

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    PrintUsage();
    return args.Length == 0 ? 2 : 0;
}

var scenario = ScenarioRegistry.Create(args[0]);
if (scenario is null)
{
    Console.Error.WriteLine($"unknown scenario '{args[0]}'");
    PrintUsage();
    return 2;
}
if (args[1..].Any(a => a is "-h" or "--help"))
{
    PrintUsage(scenario.Name);
    return 0;
}

string dataDirectory;
string? jsonPath;
bool verbose;
try
{
    var options = new ScenarioArgs(args[1..]);
    dataDirectory = Path.GetFullPath(options.String("dir", RepoPaths.ScratchFor(scenario.Name)));
    options.ShowAs("dir", RepoPaths.Display(dataDirectory));
    jsonPath = options.OptionalString("json");
    verbose = options.Flag("verbose");
    scenario.Configure(options);
    options.RejectUnknown(scenario.Name);
    var command = "dotnet run -c Release --project perf/CheckpointCache.Perf -- " + string.Join(' ', args.Select(Quote));

    Directory.CreateDirectory(dataDirectory);
    var machine = MachineInfo.Describe(dataDirectory);
    Console.WriteLine($"## perf: {scenario.Name}");
    Console.WriteLine();
    Console.WriteLine($"command: {command}");
    foreach (var line in machine.Lines()) Console.WriteLine(line);
    if (IsDebugBuild()) Console.WriteLine("WARNING: Debug build; figures are not representative (use -c Release)");
    Console.WriteLine();

    using var cancel = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        cancel.Cancel();
    };
    using var loggerFactory = new ConsoleLoggerFactory(verbose ? LogLevel.Information : LogLevel.Warning);
    var context = new ScenarioContext(options, dataDirectory, machine, loggerFactory, Console.Error);
    var started = DateTimeOffset.Now;
    var stopwatch = Stopwatch.StartNew();
    var result = await scenario.RunAsync(context, cancel.Token);
    result.Notes.Add($"load average {machine.LoadAverage} at start, {MachineInfo.CurrentLoadAverage()} at end (1/5/15 min, {machine.LogicalCores} cores)");

    Console.Write(MarkdownTable.Render(result));
    Console.WriteLine();
    foreach (var (name, value) in result.Ratios) Console.WriteLine($"ratio {name} = {value:F2}");
    foreach (var note in result.Notes) Console.WriteLine($"note: {note}");
    foreach (var failure in result.Failures) Console.WriteLine($"FAILURE: {failure}");
    if (jsonPath is not null)
    {
        JsonReport.Write(jsonPath, scenario.Name, command, machine, options.Effective, result, started, stopwatch.Elapsed);
        Console.WriteLine($"json: {jsonPath}");
    }
    return result.Failures.Count > 0 ? 3 : 0;
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}
catch (OperationCanceledException)
{
    Console.Error.WriteLine("cancelled");
    return 130;
}

static string Quote(string arg) => arg.Length > 0 && arg.All(c => char.IsLetterOrDigit(c) || "-_./,=:".Contains(c)) ? arg : $"'{arg.Replace("'", "'\\''")}'";

static bool IsDebugBuild() => Assembly.GetExecutingAssembly().GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled == true;

// Every scenario's options, or one scenario's (SCENARIO --help).
static void PrintUsage(string? only = null)
{
    Console.WriteLine("usage: dotnet run -c Release --project perf/CheckpointCache.Perf -- SCENARIO [options]");
    Console.WriteLine();
    Console.WriteLine("options of every scenario:");
    Console.WriteLine("  --dir PATH     data folder (default perf/results/tmp/SCENARIO); its disk is the one measured");
    Console.WriteLine("  --json FILE    also write the report as JSON");
    Console.WriteLine("  --verbose      log the engine's information messages to stderr");
    foreach (var s in ScenarioRegistry.All.Where(s => only is null || s.Name == only))
    {
        Console.WriteLine();
        Console.WriteLine($"{s.Name}: {s.Summary}");
        foreach (var line in s.Options.Split('\n', StringSplitOptions.RemoveEmptyEntries)) Console.WriteLine($"  {line.TrimEnd()}");
    }
}
