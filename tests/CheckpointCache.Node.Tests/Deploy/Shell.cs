using System.Diagnostics;

namespace CheckpointCache.Node.Tests.Deploy;

/// <summary>Runs a tool (systemd-analyze, bash, node) to completion and returns what it said.</summary>
internal static class Shell
{
    public sealed record Result(int ExitCode, string StandardOutput, string StandardError)
    {
        public string Output => (StandardOutput + StandardError).Trim();
    }

    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, IDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepoPaths.Root,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) info.Environment[k] = v;
        using var process = Process.Start(info)!;
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            // A safety net against a hung tool, not a performance expectation.
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(5));
            return new Result(process.ExitCode, await stdout, await stderr);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    public static void Executable(string path, string body = "#!/bin/sh\nexit 0\n")
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("Unix file modes");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, body);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }
}
