using System.Runtime.InteropServices;

namespace CheckpointCache.Perf.Framework;

/// <summary>
/// Keeps a server's files out of the kernel page cache while it runs: every period, every file under the
/// folder gets posix_fadvise(DONTNEED). A server that reads its SSD tier through the page cache (memcached's
/// extstore does; FASTER and Garnet's RandomAccess device use O_DIRECT) would otherwise get a RAM tier
/// outside its budget, as large as the machine's free memory. Dirty pages are left alone by the kernel.
/// </summary>
public sealed partial class PageCacheEvictor : IDisposable
{
    private const int PosixFadvDontNeed = 4;
    private readonly string _folder;
    private readonly TimeSpan _period;
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private long _passes;

    public PageCacheEvictor(string folder, TimeSpan period)
    {
        _folder = folder;
        _period = period;
        _thread = new Thread(Run) { IsBackground = true, Name = "page-cache-evictor" };
        if (period > TimeSpan.Zero) _thread.Start();
    }

    public long Passes => Interlocked.Read(ref _passes);

    private void Run()
    {
        while (!_stop.IsCancellationRequested)
        {
            EvictOnce(_folder);
            Interlocked.Increment(ref _passes);
            _stop.Token.WaitHandle.WaitOne(_period);
        }
    }

    public static void EvictOnce(string folder)
    {
        if (!Directory.Exists(folder)) return;
        IEnumerable<string> files;
        try
        {
            files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).ToList();
        }
        catch (IOException)
        {
            return;
        }
        foreach (var file in files)
        {
            int fd = Open(file, 0 /* O_RDONLY */ | 0x80000 /* O_CLOEXEC */);
            if (fd < 0) continue;
            _ = Fadvise(fd, 0, 0, PosixFadvDontNeed);
            _ = Close(fd);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        if (_thread.IsAlive) _thread.Join();
        _stop.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int Fadvise(int fd, long offset, long length, int advice);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
