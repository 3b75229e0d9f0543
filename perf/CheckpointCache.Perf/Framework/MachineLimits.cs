using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace CheckpointCache.Perf.Framework;

/// <summary>One ceiling of the machine: bytes per second of a plain copy, with no cache logic at all.</summary>
public sealed record LimitResult(string Name, long Bytes, TimeSpan Elapsed, double CpuCores)
{
    public double GBps => Elapsed > TimeSpan.Zero ? Bytes / 1e9 / Elapsed.TotalSeconds : 0;
}

/// <summary>
/// Memory and loopback bandwidth measured in this process with the simplest code that moves the bytes:
/// what a cache serving from RAM over a socket cannot beat on this machine.
/// </summary>
public static class MachineLimits
{
    /// <summary>memcpy bandwidth: each thread copies its own pre-touched buffer pair over and over (bytes copied, counted once).</summary>
    public static LimitResult Memcpy(int threads, int bufferBytes, TimeSpan duration)
    {
        long total = 0;
        var pairs = Enumerable.Range(0, threads).Select(_ =>
        {
            var src = GC.AllocateUninitializedArray<byte>(bufferBytes, pinned: true);
            var dst = GC.AllocateUninitializedArray<byte>(bufferBytes, pinned: true);
            Random.Shared.NextBytes(src);
            dst.AsSpan().Fill(1); // touch: first-touch page faults are another (much lower) limit
            return (src, dst);
        }).ToList();
        var cpu = CpuMeter.Start();
        var stopwatch = Stopwatch.StartNew();
        long deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var workers = pairs.Select(p => new Thread(() =>
        {
            long copied = 0;
            while (Stopwatch.GetTimestamp() < deadline)
            {
                p.src.AsSpan().CopyTo(p.dst);
                copied += p.src.Length;
            }
            Interlocked.Add(ref total, copied);
        }) { IsBackground = true }).ToList();
        workers.ForEach(t => t.Start());
        workers.ForEach(t => t.Join());
        stopwatch.Stop();
        return new LimitResult($"memcpy, {threads} thread{(threads > 1 ? "s" : "")}", total, stopwatch.Elapsed, cpu.CoresUsed());
    }

    /// <summary>Bytes each sender reads from and each receiver writes into, in turn: values come from and go to memory, not cache.</summary>
    private const int SpreadBytes = 64 << 20;

    /// <summary>
    /// Loopback TCP (or a Unix socket) with <paramref name="streams"/> connections, one blocking sender and
    /// receiver thread each, moving successive chunks of 64 MiB buffers (with one hot 1 MiB buffer on each
    /// side the figure would be the caches' bandwidth, several times what a server copying values sees).
    /// </summary>
    public static LimitResult Loopback(bool unixSocket, int streams, int chunkBytes, TimeSpan duration, string scratchFolder)
    {
        EndPoint endPoint;
        string? socketPath = null;
        if (unixSocket)
        {
            socketPath = Path.Combine(scratchFolder, $"limit-{Environment.ProcessId}.sock");
            File.Delete(socketPath);
            endPoint = new UnixDomainSocketEndPoint(socketPath);
        }
        else
        {
            endPoint = new IPEndPoint(IPAddress.Loopback, 0);
        }
        using var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, unixSocket ? ProtocolType.Unspecified : ProtocolType.Tcp);
        listener.Bind(endPoint);
        listener.Listen(streams);
        var bound = listener.LocalEndPoint!;
        long received = 0;
        var pairs = new List<(Socket Client, Socket Server)>();
        try
        {
            for (int i = 0; i < streams; i++)
            {
                var client = new Socket(bound.AddressFamily, SocketType.Stream, unixSocket ? ProtocolType.Unspecified : ProtocolType.Tcp);
                client.Connect(bound);
                pairs.Add((client, listener.Accept()));
            }
            var source = GC.AllocateUninitializedArray<byte>(SpreadBytes);
            Random.Shared.NextBytes(source);
            var cpu = CpuMeter.Start();
            var stopwatch = Stopwatch.StartNew();
            long deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            var threads = new List<Thread>();
            foreach (var (client, server) in pairs)
            {
                threads.Add(new Thread(() =>
                {
                    try
                    {
                        for (long offset = 0; Stopwatch.GetTimestamp() < deadline; offset = (offset + chunkBytes) % source.Length)
                            client.Send(source, (int)offset, chunkBytes, SocketFlags.None);
                    }
                    catch (SocketException)
                    {
                    }
                    client.Shutdown(SocketShutdown.Send);
                }) { IsBackground = true });
                threads.Add(new Thread(() =>
                {
                    var buffer = GC.AllocateUninitializedArray<byte>(SpreadBytes);
                    buffer.AsSpan().Fill(1);
                    long n = 0;
                    int got;
                    // Successive slices of a buffer far larger than the caches, as a server's values are.
                    while ((got = server.Receive(buffer, (int)(n % (SpreadBytes - chunkBytes + 1)), chunkBytes, SocketFlags.None)) > 0) n += got;
                    Interlocked.Add(ref received, n);
                }) { IsBackground = true });
            }
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            stopwatch.Stop();
            var name = $"loopback {(unixSocket ? "Unix socket" : "TCP")}, {streams} stream{(streams > 1 ? "s" : "")}";
            return new LimitResult(name, received, stopwatch.Elapsed, cpu.CoresUsed());
        }
        finally
        {
            foreach (var (client, server) in pairs)
            {
                client.Dispose();
                server.Dispose();
            }
            if (socketPath is not null) File.Delete(socketPath);
        }
    }
}
