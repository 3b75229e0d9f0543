using System.Diagnostics;

namespace CheckpointCache.Engine.Tests;

/// <summary>What a folder occupies on disk, as du counts it (allocated blocks).</summary>
public static class DiskUsage
{
    public static long Bytes(string path)
    {
        var psi = new ProcessStartInfo("du", ["-s", "-B1", path]) { RedirectStandardOutput = true };
        using var du = Process.Start(psi)!;
        var output = du.StandardOutput.ReadToEnd();
        du.WaitForExit();
        return long.Parse(output.Split('\t')[0]);
    }
}
