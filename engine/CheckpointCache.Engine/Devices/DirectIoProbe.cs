using System.Runtime.InteropServices;

namespace CheckpointCache.Engine.Devices;

/// <summary>
/// Checks that O_DIRECT works in a folder by writing and reading one sector through it. Some
/// filesystems refuse O_DIRECT at open (EINVAL, e.g. older tmpfs), others only at the first I/O.
/// </summary>
internal static class DirectIoProbe
{
    /// <summary>Null when O_DIRECT works; otherwise why it does not.</summary>
    public static unsafe string? Check(string directory, int sectorSize)
    {
        string path = Path.Combine(directory, $".direct-io-probe.{Environment.ProcessId}.{Guid.NewGuid():N}");
        int fd = Libc.Open(path, Libc.O_RDWR | Libc.O_CREAT | Libc.O_CLOEXEC | Libc.O_DIRECT, 0b110_000_000);
        if (fd < 0) return $"open: {Libc.Describe(Libc.LastError)}";
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)sectorSize, (nuint)sectorSize);
        try
        {
            new Span<byte>(buffer, sectorSize).Fill(0x5A);
            if (Libc.PWrite(fd, buffer, (nuint)sectorSize, 0) != sectorSize) return $"pwrite: {Libc.Describe(Libc.LastError)}";
            if (Libc.PRead(fd, buffer, (nuint)sectorSize, 0) != sectorSize) return $"pread: {Libc.Describe(Libc.LastError)}";
            return null;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
            Libc.Close(fd);
            File.Delete(path);
        }
    }
}
