using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Rpc.Files.V1;
using Grpc.Core;

namespace CheckpointCache.Client.Files;

/// <summary>
/// Typed client of the files API (files.proto). Thread-safe; share one. Every refusal is a
/// <see cref="FilesClientException"/> carrying the status and the precise <see cref="FilesError"/>.
/// </summary>
public sealed class FilesClient : IDisposable
{
    private readonly CacheClient? _owned;
    private readonly CacheClient _client;
    private readonly FilesClientOptions _options;

    /// <summary>A files client sharing <paramref name="client"/>'s connections.</summary>
    public FilesClient(CacheClient client, FilesClientOptions? options = null) : this(client, options, owns: false)
    {
    }

    private FilesClient(CacheClient client, FilesClientOptions? options, bool owns)
    {
        Raw = new Rpc.Files.V1.Files.FilesClient(client.Channel);
        _client = client;
        _options = options ?? new FilesClientOptions();
        if (owns) _owned = client;
    }

    /// <summary>Connects lazily to "unix:/path/node.sock" or "http://127.0.0.1:7400".</summary>
    public static FilesClient Connect(string endpoint, FilesClientOptions? options = null) => new(CacheClient.Connect(endpoint), options, owns: true);

    /// <summary>The generated stub, for what this class does not wrap.</summary>
    public Rpc.Files.V1.Files.FilesClient Raw { get; }
    public FilesClientOptions Options => _options;

    private CallOptions Call(CancellationToken ct) => new(deadline: DateTime.UtcNow + _options.CallTimeout, cancellationToken: ct);
    private CallOptions Stream(CancellationToken ct) => new(deadline: DateTime.UtcNow + _options.StreamTimeout, cancellationToken: ct);

    private static async Task<T> Run<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (RpcException e)
        {
            throw FilesClientException.From(e);
        }
    }

    public Task<Entry> StatAsync(string path, string store = "", CancellationToken ct = default)
        => Run(async () => (await Raw.StatAsync(new StatRequest { Store = store, Path = path }, Call(ct))).Entry);

    /// <summary>One page of a directory listing; pass the previous page's NextAfter to continue.</summary>
    public Task<ListResponse> ListPageAsync(string path, string after = "", uint pageSize = 0, string store = "", CancellationToken ct = default)
        => Run(async () => await Raw.ListAsync(new ListRequest { Store = store, Path = path, After = after, PageSize = pageSize }, Call(ct)));

    /// <summary>Every entry of a directory, page by page.</summary>
    public async Task<IReadOnlyList<Entry>> ListAsync(string path, string store = "", CancellationToken ct = default)
    {
        var all = new List<Entry>();
        string after = "";
        do
        {
            var page = await ListPageAsync(path, after, 0, store, ct);
            all.AddRange(page.Entries);
            after = page.NextAfter;
        } while (after.Length > 0);
        return all;
    }

    public Task<Entry> MkdirAsync(string path, bool parents = false, uint mode = 0, string store = "", CancellationToken ct = default)
        => Run(async () => (await Raw.MkdirAsync(new MkdirRequest { Store = store, Path = path, Parents = parents, Mode = mode }, Call(ct))).Entry);

    public Task<OpenResponse> OpenAsync(string path, OpenFlags flags, uint mode = 0, string store = "", CancellationToken ct = default)
        => Run(async () => await Raw.OpenAsync(new OpenRequest { Store = store, Path = path, Flags = (uint)flags, Mode = mode }, Call(ct)));

    public Task<OpenResponse> OpenByIdAsync(long fileId, OpenFlags flags, string store = "", CancellationToken ct = default)
        => Run(async () => await Raw.OpenAsync(new OpenRequest { Store = store, FileId = fileId, Flags = (uint)flags }, Call(ct)));

    /// <summary>Opens a write stream into a session; write frames, then complete it.</summary>
    public FileWriteStream OpenWriteStream(ulong sessionId, CancellationToken ct = default)
        => new(() => Raw.Write(Stream(ct)), _client, sessionId, _options.FrameBytes, _options.StreamTimeout, ct);

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> in one stream and waits until the node took it.</summary>
    public async Task WriteAsync(ulong sessionId, long offset, ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        await using var stream = OpenWriteStream(sessionId, ct);
        await stream.WriteAsync(offset, data, ct);
        await stream.CompleteAsync();
    }

    /// <summary>
    /// Reads into <paramref name="destination"/> from a session; returns the bytes read (fewer at the end of the file).
    /// A destination in a <see cref="SharedBuffer"/> is filled by the node directly, no byte crossing the socket.
    /// </summary>
    public async Task<int> ReadAsync(ulong sessionId, long offset, Memory<byte> destination, CancellationToken ct = default)
    {
        if (await _client.DataSocketAsync(ct) is { } data)
        {
            try
            {
                if (SharedBuffer.TryLocate(destination, out var buffer, out int at))
                {
                    try
                    {
                        return await data.ReadFileSharedAsync(sessionId, offset, (buffer, at, destination.Length), _options.StreamTimeout, ct);
                    }
                    catch (SharedBufferRefusedException)
                    {
                        // The node will not map the buffer: the bytes come through the socket instead.
                    }
                }
                return await data.ReadFileAsync(sessionId, offset, destination, _options.StreamTimeout, ct);
            }
            catch (RpcException e)
            {
                throw FilesClientException.From(e);
            }
            catch (Exception e) when (_client.DataSocketBroke(e))
            {
            }
        }
        return await ReadCoreAsync(new ReadRequest { SessionId = sessionId, Offset = offset, Length = destination.Length, MaxFrameBytes = (uint)_options.FrameBytes }, destination, ct);
    }

    /// <summary>Reads the committed version of <paramref name="path"/>.</summary>
    public Task<int> ReadPathAsync(string path, long offset, Memory<byte> destination, string store = "", CancellationToken ct = default)
        => ReadCoreAsync(new ReadRequest { Store = store, Path = path, Offset = offset, Length = destination.Length, MaxFrameBytes = (uint)_options.FrameBytes }, destination, ct);

    private async Task<int> ReadCoreAsync(ReadRequest request, Memory<byte> destination, CancellationToken ct)
    {
        try
        {
            using var call = Raw.Read(request, Stream(ct));
            int total = 0;
            await foreach (var frame in call.ResponseStream.ReadAllAsync(ct))
            {
                long at = frame.Offset - request.Offset;
                if (at != total || total + frame.Data.Length > destination.Length)
                    throw new InvalidOperationException($"read frame at {frame.Offset} with {frame.Data.Length} bytes does not follow the {total} bytes received");
                frame.Data.Span.CopyTo(destination.Span[total..]);
                total += frame.Data.Length;
            }
            return total;
        }
        catch (RpcException e)
        {
            throw FilesClientException.From(e);
        }
    }

    public Task TruncateAsync(ulong sessionId, long size, CancellationToken ct = default)
        => Run(async () => await Raw.TruncateAsync(new TruncateRequest { SessionId = sessionId, Size = size }, Call(ct)));

    public Task<TruncateResponse> TruncatePathAsync(string path, long size, string store = "", CancellationToken ct = default)
        => Run(async () => await Raw.TruncateAsync(new TruncateRequest { Store = store, Path = path, Size = size }, Stream(ct)));

    public Task<CommitResponse> CommitAsync(ulong sessionId, CancellationToken ct = default)
        => Run(async () => await Raw.CommitAsync(new CommitRequest { SessionId = sessionId }, Stream(ct)));

    /// <summary>
    /// Commits and waits until the version is in the cloud tier, up to <paramref name="persistTimeout"/> (null: the stream
    /// timeout). Durability is PERSISTED when it got there; LOCAL with PersistPending when it will later; LOCAL alone when
    /// it never will (no cloud tier, CacheOnly, or not selected by the persist policy).
    /// </summary>
    public Task<CommitResponse> CommitPersistedAsync(ulong sessionId, TimeSpan? persistTimeout = null, CancellationToken ct = default)
        => Run(async () => await Raw.CommitAsync(new CommitRequest
        {
            SessionId = sessionId, WaitFor = Durability.Persisted, PersistTimeoutMs = TimeoutMs(persistTimeout),
        }, Stream(ct)));

    public Task<CloseResponse> CloseAsync(ulong sessionId, bool commit, CancellationToken ct = default)
        => Run(async () => await Raw.CloseAsync(new CloseRequest { SessionId = sessionId, Commit = commit }, Stream(ct)));

    /// <summary>Commits, closes and waits for the cloud tier as <see cref="CommitPersistedAsync"/> does.</summary>
    public Task<CloseResponse> ClosePersistedAsync(ulong sessionId, TimeSpan? persistTimeout = null, CancellationToken ct = default)
        => Run(async () => await Raw.CloseAsync(new CloseRequest
        {
            SessionId = sessionId, Commit = true, WaitFor = Durability.Persisted, PersistTimeoutMs = TimeoutMs(persistTimeout),
        }, Stream(ct)));

    private static uint TimeoutMs(TimeSpan? timeout) => timeout is { } t ? (uint)Math.Clamp(t.TotalMilliseconds, 1, uint.MaxValue) : 0;

    /// <summary>
    /// Warms the node from the cloud tier: restores every object under <paramref name="prefix"/> the node does not hold.
    /// Each progress message is passed to <paramref name="progress"/>; returns the last one.
    /// </summary>
    public async Task<PrefetchProgress> PrefetchAsync(string prefix, Action<PrefetchProgress>? progress = null, uint parallelism = 0, string store = "",
        TimeSpan? timeout = null, CancellationToken ct = default)
    {
        try
        {
            using var call = Raw.Prefetch(new PrefetchRequest { Store = store, Prefix = prefix, Parallelism = parallelism },
                new CallOptions(deadline: timeout is { } t ? DateTime.UtcNow + t : null, cancellationToken: ct));
            var last = new PrefetchProgress();
            await foreach (var p in call.ResponseStream.ReadAllAsync(ct))
            {
                last = p;
                progress?.Invoke(p);
            }
            return last;
        }
        catch (RpcException e)
        {
            throw FilesClientException.From(e);
        }
    }

    public Task RenameAsync(string source, string target, bool noReplace = false, string store = "", CancellationToken ct = default)
        => Run(async () => await Raw.RenameAsync(new RenameRequest { Store = store, Source = source, Target = target, NoReplace = noReplace }, Call(ct)));

    public Task DeleteAsync(string path, bool recursive = false, EntryKind expect = EntryKind.Unspecified, string store = "", CancellationToken ct = default)
        => Run(async () => await Raw.DeleteAsync(new DeleteRequest { Store = store, Path = path, Recursive = recursive, Expect = expect }, Call(ct)));

    public Task<Entry> SetAttributesAsync(string path, uint? mode, long? modifiedUnixMs, string store = "", CancellationToken ct = default)
    {
        var request = new SetAttributesRequest { Store = store, Path = path };
        if (mode is { } m) request.Mode = m;
        if (modifiedUnixMs is { } t) request.ModifiedUnixMs = t;
        return Run(async () => (await Raw.SetAttributesAsync(request, Call(ct))).Entry);
    }

    public Task<StatusResponse> StatusAsync(string path, uint limit = 0, string store = "", CancellationToken ct = default)
        => Run(async () => await Raw.StatusAsync(new StatusRequest { Store = store, Path = path, Limit = limit }, Stream(ct)));

    public Task<UsageResponse> UsageAsync(string store = "", CancellationToken ct = default)
        => Run(async () => await Raw.UsageAsync(new UsageRequest { Store = store }, Call(ct)));

    /// <summary>Writes a whole file from <paramref name="source"/> (create or replace) and commits it; returns the durability reached.</summary>
    public async Task<Durability> UploadAsync(string path, Stream source, string store = "", CancellationToken ct = default)
    {
        var open = await OpenAsync(path, OpenFlags.OpenWrite | OpenFlags.OpenCreate | OpenFlags.OpenTruncate, store: store, ct: ct);
        bool closed = false;
        try
        {
            var buffer = new byte[_options.FrameBytes];
            await using (var stream = OpenWriteStream(open.SessionId, ct))
            {
                long offset = 0;
                for (int n; (n = await source.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct)) > 0; offset += n)
                    await stream.WriteAsync(offset, buffer.AsMemory(0, n), ct);
                await stream.CompleteAsync();
            }
            var close = await CloseAsync(open.SessionId, commit: true, ct);
            closed = true;
            return close.Durability;
        }
        finally
        {
            if (!closed)
            {
                try { await CloseAsync(open.SessionId, commit: false, CancellationToken.None); }
                catch (FilesClientException) { }
            }
        }
    }

    /// <summary>Copies the committed version of <paramref name="path"/> into <paramref name="destination"/>; returns its length.</summary>
    public async Task<long> DownloadAsync(string path, Stream destination, string store = "", CancellationToken ct = default)
    {
        try
        {
            using var call = Raw.Read(new ReadRequest { Store = store, Path = path, Offset = 0, Length = long.MaxValue / 2, MaxFrameBytes = (uint)_options.FrameBytes }, Stream(ct));
            long total = 0;
            await foreach (var frame in call.ResponseStream.ReadAllAsync(ct))
            {
                await destination.WriteAsync(frame.Data.Memory, ct);
                total += frame.Data.Length;
            }
            return total;
        }
        catch (RpcException e)
        {
            throw FilesClientException.From(e);
        }
    }

    public void Dispose() => _owned?.Dispose();
}
