using System.Net;
using System.Security.Cryptography.X509Certificates;
using CheckpointCache.Cluster;
using CheckpointCache.Cluster.Options;
using CheckpointCache.Cluster.Peers;
using CheckpointCache.Engine;
using CheckpointCache.Engine.Files;
using CheckpointCache.Engine.Options;
using CheckpointCache.Node.Cloud;
using CheckpointCache.Node.Files;
using CheckpointCache.Node.Lifecycle;
using CheckpointCache.Node.Metrics;
using CheckpointCache.Node.Options;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace CheckpointCache.Node.Hosting;

/// <summary>
/// A running node: configuration, the engine, Kestrel on a Unix socket and loopback TCP, the gRPC
/// services, health, reflection and metrics. Start it, wait for shutdown, dispose it.
/// </summary>
public sealed partial class NodeApplication : IAsyncDisposable
{
    /// <summary>Headroom over a frame's data for the key, the namespace and protobuf framing.</summary>
    private const int MessageHeadroomBytes = 64 * 1024;

    private readonly WebApplication _app;
    private readonly ICacheEngine _engine;
    private readonly FileTreeRegistry _files;
    private readonly ILogger _logger;
    private readonly string? _unixSocketPath;
    private readonly ClusterNode _cluster;
    private bool _disposed;

    private NodeApplication(WebApplication app, ICacheEngine engine, FileTreeRegistry files, ClusterNode cluster, NodeIdentity identity, string? unixSocketPath)
    {
        _app = app;
        _engine = engine;
        _files = files;
        _cluster = cluster;
        Identity = identity;
        _unixSocketPath = unixSocketPath;
        _logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("CheckpointCache.Node");
    }

    public NodeIdentity Identity { get; }
    public IReadOnlyList<string> Endpoints => Identity.Endpoints;
    public IServiceProvider Services => _app.Services;
    public ClusterNode Cluster => _cluster;

    /// <summary>Configuration is appsettings.json (beside the binary), then environment variables, then --Section:Key=value arguments.</summary>
    public static async Task<NodeApplication> StartAsync(string[] args, NodeStartOptions? start = null, CancellationToken cancellationToken = default)
    {
        start ??= new NodeStartOptions();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; });
        start.ConfigureLogging?.Invoke(builder.Logging);
        // The node logs one line of its own saying where it listens.
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>();

        var config = builder.Configuration;
        AddPrefixedEnvironment(config);
        var nodeOptions = config.GetSection(NodeOptions.Section).Get<NodeOptions>() ?? new NodeOptions();
        var limits = config.GetSection(LimitsOptions.Section).Get<LimitsOptions>() ?? new LimitsOptions();
        var engineOptions = config.GetSection(EngineOptions.Section).Get<EngineOptions>() ?? new EngineOptions();
        var clusterOptions = config.GetSection(ClusterOptions.Section).Get<ClusterOptions>() ?? new ClusterOptions();
        // Relative to where the node was started, not to where its binary lies.
        engineOptions.DataDirectory = Path.GetFullPath(engineOptions.DataDirectory);
        string? socketPath = nodeOptions.UnixSocketEnabled
            ? Path.GetFullPath(string.IsNullOrWhiteSpace(nodeOptions.UnixSocketPath) ? Path.Combine(engineOptions.DataDirectory, "node.sock") : nodeOptions.UnixSocketPath)
            : null;

        using var bootLoggerFactory = LoggerFactory.Create(b => { b.AddConfiguration(config.GetSection("Logging")); b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; }); start.ConfigureLogging?.Invoke(b); });
        var bootLogger = bootLoggerFactory.CreateLogger("CheckpointCache.Node");
        var nodeId = string.IsNullOrWhiteSpace(nodeOptions.NodeId) ? Environment.MachineName : nodeOptions.NodeId;
        var errors = OptionsValidation.Check(nodeOptions, limits, engineOptions, socketPath ?? "")
            .Concat(ClusterOptionsValidation.Check(clusterOptions, engineOptions.EffectiveNamespaces().ToDictionary(n => n.Key, n => n.Value.Kind), nodeOptions.Tls.IsConfigured, nodeId)).ToList();
        // With Cloud:Enabled false (the default) the cloud-tier assembly is never loaded and no credential is asked for.
        IColdTier? coldTier = null;
        string cloudDescription = "cloud tier off";
        if (CloudTierLoader.IsEnabled(config)) coldTier = CloudTierLoader.Create(config, bootLoggerFactory, errors, out cloudDescription);
        if (errors.Count > 0)
        {
            foreach (var error in errors) bootLogger.LogError("Configuration error: {Error}", error);
            throw new NodeConfigurationException(errors);
        }

        Directory.CreateDirectory(engineOptions.DataDirectory);
        if (socketPath is not null) UnixSocketFile.Prepare(socketPath);

        bootLogger.LogInformation("Opening data directory {DataDirectory}", engineOptions.DataDirectory);
        var engineFactory = start.EngineFactory ?? ((o, lf, ct) => CacheEngine.OpenAsync(o, lf, ct));
        ICacheEngine engine;
        try
        {
            engine = await engineFactory(engineOptions, bootLoggerFactory, cancellationToken);
        }
        catch (CacheException e) when (e.Code == CacheErrorCode.InvalidArgument)
        {
            // The engine refuses budgets and names that cannot work; that is a configuration error too.
            bootLogger.LogError("Configuration error: {Error}", e.Message);
            throw new NodeConfigurationException([e.Message]);
        }
        FileTreeRegistry? files = null;
        ClusterNode? cluster = null;
        try
        {
            var filesOptions = config.GetSection(FilesOptions.Section).Get<FilesOptions>() ?? new FilesOptions();
            try
            {
                files = await FileTreeRegistry.OpenAsync(engine, filesOptions, bootLoggerFactory, coldTier, CloudTierLoader.PrefetchParallelism(config), cancellationToken);
            }
            catch (Engine.Files.FilesException e) when (e.Code == Engine.Files.FilesErrorCode.InvalidArgument)
            {
                bootLogger.LogError("Configuration error: {Error}", e.Message);
                throw new NodeConfigurationException([e.Message]);
            }
            var identity = new NodeIdentity(nodeId, engineOptions.DataDirectory, DateTimeOffset.UtcNow);
            var registry = new NamespaceRegistry(Path.Combine(engineOptions.DataDirectory, "node-namespaces.json"), limits.MaxNamespaces,
                bootLoggerFactory.CreateLogger<NamespaceRegistry>());
            registry.Load(ConfiguredNamespaces(nodeOptions, engine));

            var listeners = ConfigureKestrel(builder, nodeOptions, clusterOptions, socketPath);
            ConfigureServices(builder.Services, nodeOptions, limits, engineOptions, engine, registry, identity, clusterOptions, files);
            var dataSocket = DataSocket.DataSocketEndpoint.Resolve(nodeOptions, socketPath);
            builder.Services.AddSingleton(dataSocket);
            builder.Services.AddSingleton<PutAdmission>();
            builder.Services.AddSingleton<DataSocket.DataSocketCalls>();
            builder.Services.AddSingleton<DataSocket.DataSocketFileCalls>();
            builder.Services.AddSingleton<DataSocket.DataSocketSharedCalls>();
            builder.Services.AddSingleton<DataSocket.DataSocketSharedFileCalls>();
            builder.Services.AddHostedService<DataSocket.DataSocketListener>();
            identity.DataSocket = dataSocket.Path;
            builder.Services.AddSingleton(files);
            builder.Services.AddSingleton<Lifecycle.IWritebackQueue>(new Files.FilesWriteback(files));
            builder.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(filesOptions));

            var app = builder.Build();
            cluster = app.Services.GetRequiredService<ClusterNode>();
            cluster.AttachFiles(files.Trees);
            MapEndpoints(app, nodeOptions, listeners, cluster);
            await app.StartAsync(cancellationToken);

            // Port 0 is resolved only now: Kestrel writes the bound port back into the listen options.
            identity.Endpoints = listeners.GrpcEndpoints(nodeOptions.Tls.IsConfigured);
            identity.MetricsUrl = listeners.MetricsUrl(nodeOptions.MetricsPath);
            if (cluster.Enabled)
            {
                try
                {
                    await cluster.StartAsync(listeners.PeerUrl(nodeOptions.Tls.IsConfigured, clusterOptions.AdvertiseAddress)!, cancellationToken);
                }
                catch
                {
                    await app.StopAsync(CancellationToken.None);
                    await app.DisposeAsync();
                    throw;
                }
            }

            var node = new NodeApplication(app, engine, files, cluster, identity, socketPath);
            node._logger.LogInformation(
                "CheckpointCache node {NodeId} listening on {Endpoints}; data in {DataDirectory}; stores {Stores}; {CloudTier}; metrics at {MetricsUrl}; recovery took {RecoverySeconds:F3} s",
                identity.NodeId, string.Join(" and ", identity.Endpoints), identity.DataDirectory,
                string.Join(", ", engine.Namespaces.Select(n => $"{n.Name} ({n.Kind.ToString().ToLowerInvariant()}, RAM {n.Policy.RamBytes}, SSD {n.Policy.SsdBytes})")),
                cloudDescription, identity.MetricsUrl ?? "(disabled)", engine.RecoveryTime.TotalSeconds);
            return node;
        }
        catch
        {
            if (cluster is not null) await cluster.DisposeAsync();
            if (files is not null) await files.DisposeAsync();
            await engine.DisposeAsync();
            throw;
        }
    }

    /// <summary>Environment variables prefixed CCACHE_ (CCACHE_Node__TcpPort=7401) rank above appsettings.json and below the command line.</summary>
    internal static void AddPrefixedEnvironment(IConfigurationBuilder config)
    {
        var sources = config.Sources;
        int commandLine = sources.ToList().FindLastIndex(s => s is Microsoft.Extensions.Configuration.CommandLine.CommandLineConfigurationSource);
        var prefixed = new Microsoft.Extensions.Configuration.EnvironmentVariables.EnvironmentVariablesConfigurationSource { Prefix = EnvironmentPrefix };
        if (commandLine < 0) sources.Add(prefixed);
        else sources.Insert(commandLine, prefixed);
    }

    public const string EnvironmentPrefix = "CCACHE_";

    /// <summary>Completes when the host is asked to stop (SIGTERM, Ctrl+C, or <see cref="DisposeAsync"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        _logger.LogInformation("Stopping: leaving the cluster, draining calls, then committing the engine");
        try
        {
            // Leave first (the lease is revoked), so peers stop sending here before the listeners close.
            await _cluster.DisposeAsync();
            await _app.StopAsync();
        }
        finally
        {
            await _app.DisposeAsync();
            await _files.DisposeAsync();
            try
            {
                await _engine.CommitAsync();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _logger.LogError(e, "Final commit failed; the engine recovers from its last checkpoint");
            }
            await _engine.DisposeAsync();
            if (_unixSocketPath is not null && File.Exists(_unixSocketPath)) File.Delete(_unixSocketPath);
        }
    }

    private static IEnumerable<(string Store, Rpc.Kv.V1.NamespaceDescriptor Descriptor)> ConfiguredNamespaces(NodeOptions node, ICacheEngine engine)
    {
        foreach (var configured in node.Namespaces)
        {
            var store = NamespaceResolver.StoreName(configured.Store);
            if (!engine.TryGetNamespace(store, out var ns) || ns is null || ns.Kind != NamespaceKind.Kv)
                throw new NodeConfigurationException([$"Node:Namespaces names store '{store}', which is not a configured store of kind kv"]);
            var descriptor = configured.ToDescriptor();
            try
            {
                Client.KeySpec.Validate(descriptor);
            }
            catch (ArgumentException e)
            {
                throw new NodeConfigurationException([$"Node:Namespaces: {e.Message}"]);
            }
            yield return (store, descriptor);
        }
    }

    private static BoundListeners ConfigureKestrel(WebApplicationBuilder builder, NodeOptions node, ClusterOptions cluster, string? socketPath)
    {
        var bound = new BoundListeners();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null; // a BatchPut stream is as long as its batch; Limits:MaxBatchBytes bounds it
            // Flow-control windows sized for MiB frames, so one stream is not throttled to a window per round trip.
            kestrel.Limits.Http2.InitialConnectionWindowSize = 32 * 1024 * 1024;
            kestrel.Limits.Http2.InitialStreamWindowSize = 16 * 1024 * 1024;
            kestrel.Limits.Http2.MaxFrameSize = 1024 * 1024;
            kestrel.Limits.Http2.MaxStreamsPerConnection = 256;
            // Kestrel pauses a stream once this much is buffered; at the 64 KiB and 1 MiB defaults a 1 MiB
            // frame costs many pause/resume thread hops, which on a busy machine cost milliseconds each.
            kestrel.Limits.MaxResponseBufferSize = 16 * 1024 * 1024;
            kestrel.Limits.MaxRequestBufferSize = 16 * 1024 * 1024;

            // gRPC listeners speak HTTP/2 only: without TLS there is no negotiation, so HTTP/1.1 would win.
            if (socketPath is not null)
                kestrel.ListenUnixSocket(socketPath, listen => { listen.Protocols = HttpProtocols.Http2; bound.UnixSocket = socketPath; });
            if (!string.IsNullOrWhiteSpace(node.TcpAddress))
            {
                kestrel.Listen(ParseAddress(node.TcpAddress), node.TcpPort, listen =>
                {
                    listen.Protocols = HttpProtocols.Http2;
                    if (node.Tls.IsConfigured) listen.UseHttps(LoadCertificate(node.Tls));
                    bound.Tcp = listen;
                });
            }
            if (cluster.Enabled)
            {
                // The peer service has a listener of its own: it is never reachable on the client socket or port.
                kestrel.Listen(ParseAddress(cluster.PeerAddress), cluster.PeerPort, listen =>
                {
                    listen.Protocols = HttpProtocols.Http2;
                    if (node.Tls.IsConfigured) listen.UseHttps(LoadCertificate(node.Tls));
                    bound.Peer = listen;
                });
            }
            if (!string.IsNullOrWhiteSpace(node.MetricsAddress))
                kestrel.Listen(ParseAddress(node.MetricsAddress), node.MetricsPort, listen => { listen.Protocols = HttpProtocols.Http1; bound.Metrics = listen; });
        });
        return bound;
    }

    private static IPAddress ParseAddress(string address) => address == "localhost" ? IPAddress.Loopback : IPAddress.Parse(address);

    private static X509Certificate2 LoadCertificate(TlsOptions tls)
        => string.IsNullOrWhiteSpace(tls.KeyPath)
            ? X509Certificate2.CreateFromPemFile(tls.CertificatePath)
            : X509Certificate2.CreateFromPemFile(tls.CertificatePath, tls.KeyPath);

    private static void ConfigureServices(IServiceCollection services, NodeOptions node, LimitsOptions limits, EngineOptions engineOptions,
        ICacheEngine engine, NamespaceRegistry registry, NodeIdentity identity, ClusterOptions clusterOptions, FileTreeRegistry files)
    {
        // Built by the container so it logs through the node's logging for its whole life.
        services.AddSingleton(sp => new ClusterNode(clusterOptions, engine, identity.NodeId, sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton(sp => sp.GetRequiredService<ClusterNode>().Counters);
        services.AddSingleton(sp => sp.GetRequiredService<ClusterNode>().Token);
        services.AddSingleton(sp => sp.GetRequiredService<ClusterNode>().FileStores);
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(node));
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(limits));
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(engineOptions));
        services.AddSingleton(engine);
        services.AddSingleton(registry);
        services.AddSingleton(identity);
        services.AddSingleton<NamespaceResolver>();
        services.AddSingleton(sp => new NodeMetrics(engine, registry, identity.StartedAt, sp.GetRequiredService<ClusterNode>(), files));

        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = (int)limits.MaxReceiveMessageBytes.Bytes;
            grpc.MaxSendMessageSize = (int)limits.MaxFrameBytes.Bytes + limits.MaxKeyBytes + MessageHeadroomBytes;
            grpc.Interceptors.Add<CallMetricsInterceptor>();
            grpc.Interceptors.Add<EngineErrorInterceptor>();
            grpc.Interceptors.Add<DrainInterceptor>();
        }).AddServiceOptions<PeerService>(peer =>
        {
            peer.Interceptors.Add<PeerAuthInterceptor>();
            // Copies are sent in frames of up to 1 MiB plus the key.
            peer.MaxReceiveMessageSize = PeerService.FrameBytes + 64 * 1024;
            peer.MaxSendMessageSize = PeerService.FrameBytes + 64 * 1024;
        });
        services.AddGrpcReflection();
        var health = services.AddGrpcHealthChecks().AddCheck("engine", () =>
            engine.Namespaces.Count > 0 ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("no store is open"));
        services.AddNodeLifecycle(health, node.ShutdownTimeout);
        // Bounds the listeners' graceful stop to what a SIGTERM leaves after the drain (RunUntilStoppedAsync).
        services.Configure<HostOptions>(o => o.ShutdownTimeout = node.ShutdownTimeout * StopShare);
    }

    private static void MapEndpoints(WebApplication app, NodeOptions node, BoundListeners listeners, ClusterNode cluster)
    {
        if (cluster.Enabled)
        {
            // Peer calls only on the peer port, and nothing else there: one listener per audience.
            app.Use(async (context, next) =>
            {
                bool onPeerPort = listeners.PeerPort is { } port && context.Connection.LocalPort == port && context.Connection.LocalIpAddress is not null;
                bool peerCall = context.Request.Path.StartsWithSegments("/" + Rpc.Peer.V1.Peer.Descriptor.FullName);
                if (onPeerPort != peerCall)
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return;
                }
                await next(context);
            });
            app.MapGrpcService<PeerService>();
        }
        app.MapGrpcService<KvCacheService>();
        app.MapGrpcService<NodeService>();
        app.MapGrpcService<FilesService>();
        app.MapGrpcHealthChecksService();
        app.MapNodeLifecycle();
        StoreTrafficMetrics.Register(app.Services.GetRequiredService<NodeMetrics>(), app.Services.GetRequiredService<ICacheEngine>());
        app.MapGrpcReflectionService();
        app.MapMetrics(node.MetricsPath, app.Services.GetRequiredService<NodeMetrics>().Registry);
        app.MapGet("/", () => Results.Text(
            "CheckpointCache node. gRPC: checkpointcache.kv.v1.KvCache, checkpointcache.files.v1.Files, checkpointcache.node.v1.Node, grpc.health.v1.Health, reflection. Metrics: " + node.MetricsPath + "\n"));
    }
}
