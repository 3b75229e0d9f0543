using Microsoft.Extensions.Logging;

namespace CheckpointCache.Mount.Fuse;

internal static class KernelReadAhead
{
    /// <summary>
    /// FUSE mounts start with the kernel's 128 KiB read-ahead; a larger one keeps several 1 MiB requests in
    /// flight for a sequential reader. Set through sysfs once INIT is answered (INIT would lower it again).
    /// </summary>
    public static async Task RaiseAsync(string mountPoint, int readAheadKiB, ILogger logger)
    {
        if (readAheadKiB <= 0) return;
        try
        {
            await FuseCallbacks.Initialized.Task.WaitAsync(TimeSpan.FromMinutes(1)).ConfigureAwait(false);
            // INIT's reply goes out right after init() returns.
            await Task.Delay(200).ConfigureAwait(false);
            var info = File.ReadAllText($"/proc/self/mountinfo").Split('\n').FirstOrDefault(l => l.Split(' ').ElementAtOrDefault(4) == mountPoint);
            var device = info?.Split(' ')[2];
            if (device is null) return;
            var path = $"/sys/class/bdi/{device}/read_ahead_kb";
            await File.WriteAllTextAsync(path, readAheadKiB.ToString(System.Globalization.CultureInfo.InvariantCulture)).ConfigureAwait(false);
            logger.LogInformation("Kernel read-ahead of {MountPoint} set to {ReadAheadKiB} KiB ({Path})", mountPoint, readAheadKiB, path);
        }
        catch (Exception e)
        {
            logger.LogInformation("Kernel read-ahead of {MountPoint} left at its default ({Reason})", mountPoint, e.Message);
        }
    }
}
