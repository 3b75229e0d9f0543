namespace CheckpointCache.Mount.Tests.Infrastructure;

/// <summary>
/// A node and a mount of its files store, each its own child process, in a folder of their own:
/// data/ (the node's data and socket) and mnt/ (the mount point). Tests can stop, kill and restart
/// either. Skips (with a message) only where /dev/fuse is missing.
/// </summary>
public sealed class NodeAndMount : IAsyncDisposable
{
    private readonly List<ChildProcess> _mounts = [];

    public NodeAndMount(string store = "files")
    {
        Store = store;
        Directory = new TestDirectory();
        DataDirectory = Directory.Folder("data");
        MountPoint = Directory.Folder("mnt");
        Scratch = Directory.Folder("local");
    }

    public TestDirectory Directory { get; }
    public string DataDirectory { get; }
    public string MountPoint { get; }
    /// <summary>A folder on the local disk for sources and copies back.</summary>
    public string Scratch { get; }
    public string Store { get; }
    public ChildProcess? Node { get; private set; }
    public ChildProcess? Mount { get; private set; }
    public string SocketPath => Path.Combine(DataDirectory, "n.sock");

    public static bool FuseAvailable => File.Exists("/dev/fuse");

    public string Mnt(string relative) => Path.Combine(MountPoint, relative);
    public string Local(string relative) => Path.Combine(Scratch, relative);

    public static IEnumerable<string> NodeArguments(string dataDirectory, string socketPath, IDictionary<string, string>? extra = null)
    {
        var settings = new Dictionary<string, string>
        {
            ["Engine:DataDirectory"] = dataDirectory,
            ["Engine:IoThreads"] = "4",
            ["Engine:Namespaces:files:Kind"] = "Files",
            ["Engine:Namespaces:files:RamBytes"] = "256MiB",
            ["Engine:Namespaces:files:SsdBytes"] = "12GiB",
            ["Engine:Namespaces:files:PageBytes"] = "16MiB",
            ["Engine:Namespaces:files:SegmentBytes"] = "256MiB",
            ["Engine:Namespaces:files:ChunkBytes"] = (4 * 1024 * 1024 - 1024).ToString(),
            ["Engine:Namespaces:files:ReadHintBytes"] = (1024 * 1024 + 4096).ToString(),
            ["Engine:Namespaces:small:Kind"] = "Files",
            ["Engine:Namespaces:small:RamBytes"] = "16MiB",
            ["Engine:Namespaces:small:SsdBytes"] = "64MiB",
            ["Engine:Namespaces:small:PageBytes"] = "4MiB",
            ["Engine:Namespaces:small:SegmentBytes"] = "8MiB",
            ["Engine:Namespaces:small:ChunkBytes"] = (2 * 1024 * 1024 - 1024).ToString(),
            ["Engine:Namespaces:small:IndexBuckets"] = "4096",
            ["Node:UnixSocketPath"] = socketPath,
            ["Node:TcpPort"] = "0",
            ["Node:MetricsPort"] = "0",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:CheckpointCache.Node"] = "Information",
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, string>()) settings[k] = v;
        return ["serve", .. settings.Select(kv => $"--{kv.Key}={kv.Value}")];
    }

    public async Task StartNodeAsync()
    {
        Node?.Dispose();
        Node = ChildProcess.Start("checkpointcache.dll", NodeArguments(DataDirectory, SocketPath), Directory.Path);
        await Node.WaitForLineAsync(" listening on ");
    }

    /// <summary>Mounts <see cref="Store"/> at <paramref name="mountPoint"/> (default: mnt/) and waits until it is mounted.</summary>
    public async Task<ChildProcess> StartMountAsync(string? mountPoint = null, TimeSpan? retryTimeout = null, string? store = null, string[]? extra = null)
    {
        var at = mountPoint ?? MountPoint;
        var mount = ChildProcess.Start("checkpointcache-mount.dll",
        [
            $"--Mount:Endpoint=unix:{SocketPath}",
            $"--Mount:MountPoint={at}",
            $"--Mount:Store={store ?? Store}",
            $"--Mount:NodeRetryTimeout={retryTimeout ?? TimeSpan.FromMinutes(2)}",
            "--Mount:Threads=4",
            .. extra ?? [],
        ], Directory.Path);
        _mounts.Add(mount);
        await mount.WaitForLineAsync("Mounted store");
        await Shell.OkAsync($"mountpoint -q {at}");
        if (mountPoint is null) Mount = mount;
        return mount;
    }

    public static async Task<NodeAndMount> StartAsync()
    {
        var setup = new NodeAndMount();
        try
        {
            await setup.StartNodeAsync();
            await setup.StartMountAsync();
            return setup;
        }
        catch
        {
            await setup.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var mount in _mounts)
        {
            if (!mount.HasExited)
            {
                try { await mount.TerminateAsync(); } catch (Exception) { }
            }
            mount.Dispose();
        }
        // Never leave a mount behind, whatever happened to its process.
        foreach (var dir in System.IO.Directory.EnumerateDirectories(Directory.Path))
            await Shell.RunAsync($"mountpoint -q {dir} && umount -l {dir}");
        if (Node is not null && !Node.HasExited)
        {
            try { await Node.TerminateAsync(); } catch (Exception) { }
        }
        Node?.Dispose();
        Directory.Dispose();
    }
}
