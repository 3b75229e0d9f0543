using System.Diagnostics;

namespace CheckpointCache.Mount.Tests.Infrastructure;

/// <summary>Runs tools (cp, dd, tar, rsync, fio, python3) as a user would, through bash.</summary>
public static class Shell
{
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout: {Output}\nstderr: {Error}";
    }

    public static async Task<Result> RunAsync(string command, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo("bash", ["-c", command])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "/tmp",
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // A safety net against a hung tool, not a performance bound.
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(10));
        return new Result(process.ExitCode, (await stdout).Trim(), (await stderr).Trim());
    }

    /// <summary>Runs a command that must succeed; returns its standard output.</summary>
    public static async Task<string> OkAsync(string command, string? workingDirectory = null)
    {
        var result = await RunAsync(command, workingDirectory);
        Assert.True(result.ExitCode == 0, $"`{command}` failed: {result}");
        return result.Output;
    }
}
