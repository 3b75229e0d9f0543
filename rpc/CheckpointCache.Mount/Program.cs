using CheckpointCache.Client;
using CheckpointCache.Client.Files;
using CheckpointCache.Mount.FileSystem;
using CheckpointCache.Mount.Fuse;
using CheckpointCache.Mount.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

// checkpointcache-mount --Mount:Endpoint=unix:/var/lib/checkpointcache/node.sock --Mount:MountPoint=/mnt/ckpt
// No appsettings.json beside the binary: it would collide with the node's where both are installed together.
var configuration = new ConfigurationBuilder()
    .AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Grpc"] = "Warning",
        ["Logging:LogLevel:System.Net.Http"] = "Warning",
    })
    .AddEnvironmentVariables("CCACHE_")
    .AddCommandLine(args)
    .Build();
var options = configuration.GetSection(MountOptions.Section).Get<MountOptions>() ?? new MountOptions();
using var loggerFactory = LoggerFactory.Create(b =>
{
    b.AddConfiguration(configuration.GetSection("Logging"));
    b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
});
var logger = loggerFactory.CreateLogger("CheckpointCache.Mount");

var errors = new List<string>();
if (string.IsNullOrWhiteSpace(options.MountPoint)) errors.Add("Mount:MountPoint is required");
if (options.MaxIoBytes is < 4096 or > 16 * 1024 * 1024) errors.Add($"Mount:MaxIoBytes ({options.MaxIoBytes}) must be between 4KiB and 16MiB");
if (options.Threads is < 1 or > 256) errors.Add($"Mount:Threads ({options.Threads}) must be between 1 and 256");
if (options.WriteBehindBytes < options.MaxIoBytes) errors.Add($"Mount:WriteBehindBytes ({options.WriteBehindBytes}) must be at least Mount:MaxIoBytes ({options.MaxIoBytes})");
if (options.NodeRetryTimeout < TimeSpan.Zero) errors.Add("Mount:NodeRetryTimeout must not be negative");
if (errors.Count > 0)
{
    foreach (var error in errors) logger.LogError("Configuration error: {Error}", error);
    return 2;
}

using var client = FilesClient.Connect(options.Endpoint, new FilesClientOptions { FrameBytes = options.MaxIoBytes });
var calls = new NodeCalls(client, options.NodeRetryTimeout, logger);
// Read-ahead windows (three per worker thread: a sequential reader holds the one it reads and two ahead) and
// write-behind (half of it per worker thread) in shared buffers the node fills and drains directly; both are
// populated at start, so their pages are charged to the mount (docs/configuration.md, ReadAheadBytes).
using var readBuffers = SharedSlots.Allocate("checkpointcache-mount-reads", Math.Max(1024 * 1024, options.ReadAheadBytes / 2), 3 * options.Threads,
    options.HugePages, logger);
using var writeBuffers = SharedSlots.Allocate("checkpointcache-mount-writes", options.MaxIoBytes,
    options.Threads * Math.Max(1, options.WriteBehindBytes / options.MaxIoBytes / 2), options.HugePages, logger);
var fs = new MountedFileSystem(calls, options, readBuffers, writeBuffers, logger);
try
{
    return new FuseHost(options, fs, logger).Run();
}
catch (Exception e)
{
    logger.LogCritical(e, "Mount failed: {Reason}", e.Message);
    return 1;
}
