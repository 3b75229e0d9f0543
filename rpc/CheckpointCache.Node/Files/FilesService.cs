using System.Buffers;
using CheckpointCache.Engine.Files;
using CheckpointCache.Node.Options;
using CheckpointCache.Rpc.Files.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Options;
using EngineEntryKind = CheckpointCache.Engine.Files.EntryKind;
using EntryKind = CheckpointCache.Rpc.Files.V1.EntryKind;
using FileState = CheckpointCache.Rpc.Files.V1.FileState;
using ObjectStatus = CheckpointCache.Rpc.Files.V1.ObjectStatus;
using PrefetchProgress = CheckpointCache.Rpc.Files.V1.PrefetchProgress;

namespace CheckpointCache.Node.Files;

/// <summary>
/// The checkpoint files API (files.proto) over the engine's files layer. Refusals are
/// <see cref="FilesException"/>s, which the error interceptor turns into a status plus the
/// "files-error" trailer. Every call passes its cancellation token (deadline) down.
/// </summary>
public sealed class FilesService(FileTreeRegistry registry, IOptions<LimitsOptions> limits) : Rpc.Files.V1.Files.FilesBase
{
    private const int DefaultPageSize = 1000;
    private const int MaxPageSize = 10_000;
    /// <summary>Frames read ahead of the one being sent, so the engine reads blocks in parallel while gRPC sends.</summary>
    private const int FramesPerSpan = 4;
    private readonly int _maxFrameBytes = (int)limits.Value.MaxFrameBytes.Bytes;

    internal static Entry ToEntry(EntryInfo info) => new()
    {
        Name = info.Name,
        Kind = info.Kind == EngineEntryKind.File ? EntryKind.File : EntryKind.Directory,
        Id = info.Id,
        Size = info.Size,
        CommittedSize = info.CommittedSize,
        Version = info.Version,
        ModifiedUnixMs = info.ModifiedUnixMs,
        Mode = (uint)info.Mode,
        OpenWriters = info.OpenWriters,
        ChildCount = info.ChildCount,
    };

    private static Durability ToDurability(DurabilityLevel? level) => level switch
    {
        DurabilityLevel.Local => Durability.Local,
        DurabilityLevel.Replicated => Durability.Replicated,
        DurabilityLevel.Persisted => Durability.Persisted,
        _ => Durability.Unspecified,
    };

    public override async Task<StatResponse> Stat(StatRequest request, ServerCallContext context)
        => new() { Entry = ToEntry(await registry.Get(request.Store).StatAsync(request.Path, context.CancellationToken)) };

    public override async Task<ListResponse> List(ListRequest request, ServerCallContext context)
    {
        int size = request.PageSize == 0 ? DefaultPageSize : (int)Math.Min(request.PageSize, MaxPageSize);
        var (entries, more) = await registry.Get(request.Store).ListAsync(request.Path, request.After, size, context.CancellationToken);
        var response = new ListResponse { NextAfter = more && entries.Count > 0 ? entries[^1].Name : "" };
        response.Entries.AddRange(entries.Select(ToEntry));
        return response;
    }

    public override async Task<MkdirResponse> Mkdir(MkdirRequest request, ServerCallContext context)
        => new() { Entry = ToEntry(await registry.Get(request.Store).MkdirAsync(request.Path, request.Mode == 0 ? null : (int)(request.Mode & 0xFFF), request.Parents, context.CancellationToken)) };

    public override async Task<OpenResponse> Open(OpenRequest request, ServerCallContext context)
    {
        var tree = registry.Get(request.Store);
        var mode = (OpenMode)(request.Flags & 0x1F);
        var session = request.FileId != 0
            ? await tree.OpenByIdAsync(request.FileId, mode, context.CancellationToken)
            : await tree.OpenAsync(request.Path, mode, request.Mode == 0 ? null : (int)(request.Mode & 0xFFF), context.CancellationToken);
        EntryInfo info;
        try
        {
            info = await tree.StatByIdAsync(session.FileId, context.CancellationToken);
        }
        catch
        {
            await session.CloseAsync(commit: false);
            throw;
        }
        var entry = ToEntry(info with { Size = session.Size, Version = session.Version });
        return new OpenResponse { SessionId = (ulong)session.Id, Entry = entry, Created = session.Created, NodeInstance = registry.Instance };
    }

    public override async Task<WriteResponse> Write(IAsyncStreamReader<WriteFrame> requestStream, ServerCallContext context)
    {
        FileSession? session = null;
        long written = 0;
        await foreach (var frame in requestStream.ReadAllAsync(context.CancellationToken))
        {
            if (session is null)
            {
                if (frame.SessionId == 0) throw new FilesException(FilesErrorCode.InvalidArgument, "the first write frame must name the session");
                session = registry.GetSession(frame.SessionId);
            }
            else if (frame.SessionId != 0 && (long)frame.SessionId != session.Id)
            {
                throw new FilesException(FilesErrorCode.InvalidArgument, "all frames of a write stream belong to one session");
            }
            await session.WriteAsync(frame.Offset, frame.Data.Memory, context.CancellationToken);
            written += frame.Data.Length;
        }
        return new WriteResponse { BytesWritten = written, Size = session?.Size ?? 0 };
    }

    public override async Task Read(ReadRequest request, IServerStreamWriter<ReadFrame> responseStream, ServerCallContext context)
    {
        if (request.Offset < 0 || request.Length < 0)
            throw new FilesException(FilesErrorCode.InvalidArgument, $"read offset {request.Offset} and length {request.Length} must not be negative");
        var ct = context.CancellationToken;
        FileSession session;
        bool own = request.SessionId == 0;
        if (own)
            session = await registry.Get(request.Store).OpenAsync(request.Path, OpenMode.Read, cancellationToken: ct);
        else
            session = registry.GetSession(request.SessionId);
        int frame = request.MaxFrameBytes == 0 ? 1024 * 1024 : (int)Math.Clamp(request.MaxFrameBytes, 4096, (uint)_maxFrameBytes);
        int span = frame * FramesPerSpan;
        var buffers = new[] { ArrayPool<byte>.Shared.Rent(span), ArrayPool<byte>.Shared.Rent(span) };
        try
        {
            long offset = request.Offset;
            long end = request.Offset + request.Length;
            int current = 0;
            Task<int>? pending = offset < end ? session.ReadAsync(offset, buffers[0].AsMemory(0, (int)Math.Min(span, end - offset)), ct) : null;
            while (pending is not null)
            {
                int n = await pending;
                var data = buffers[current];
                long next = offset + n;
                current ^= 1;
                // Read the next span while this one is sent.
                pending = n > 0 && next < end ? session.ReadAsync(next, buffers[current].AsMemory(0, (int)Math.Min(span, end - next)), ct) : null;
                for (int sent = 0; sent < n; sent += frame)
                {
                    int size = Math.Min(frame, n - sent);
                    // The frame is serialized before WriteAsync completes, so the buffer can be reused after it.
                    await responseStream.WriteAsync(new ReadFrame { Offset = offset + sent, Data = UnsafeByteOperations.UnsafeWrap(data.AsMemory(sent, size)) }, ct);
                }
                offset = next;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffers[0]);
            ArrayPool<byte>.Shared.Return(buffers[1]);
            if (own) await session.CloseAsync(commit: false, CancellationToken.None);
        }
    }

    public override async Task<TruncateResponse> Truncate(TruncateRequest request, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (request.SessionId != 0)
        {
            await registry.GetSession(request.SessionId).TruncateAsync(request.Size, ct);
            return new TruncateResponse();
        }
        var session = await registry.Get(request.Store).OpenAsync(request.Path, OpenMode.Write, cancellationToken: ct);
        try
        {
            await session.TruncateAsync(request.Size, ct);
        }
        catch
        {
            await session.CloseAsync(commit: false, CancellationToken.None);
            throw;
        }
        return new TruncateResponse { Durability = ToDurability(await session.CloseAsync(commit: true, ct)) };
    }

    public override async Task<CommitResponse> Commit(CommitRequest request, ServerCallContext context)
    {
        var session = registry.GetSession(request.SessionId);
        var level = await session.CommitAsync(context.CancellationToken);
        var (durability, pending) = await PersistAsync(session, level, request.WaitFor, request.PersistTimeoutMs, context);
        return new CommitResponse { Durability = durability, Version = session.Version, Size = session.Size, PersistPending = pending, Replicas = (uint)session.Replicas };
    }

    public override async Task<CloseResponse> Close(CloseRequest request, ServerCallContext context)
    {
        var session = registry.GetSession(request.SessionId);
        var level = await session.CloseAsync(request.Commit, context.CancellationToken);
        if (level is null) return new CloseResponse { Durability = Durability.Unspecified, Version = session.Version };
        var (durability, pending) = await PersistAsync(session, level.Value, request.WaitFor, request.PersistTimeoutMs, context);
        return new CloseResponse { Durability = durability, Version = session.Version, PersistPending = pending, Replicas = (uint)session.Replicas };
    }

    /// <summary>
    /// After a commit: whether the version is (or, when asked, becomes within the timeout) persisted in the cloud tier.
    /// Running out of time is not an error: the answer stays LOCAL with persist_pending set.
    /// </summary>
    private static async Task<(Durability Durability, bool Pending)> PersistAsync(FileSession session, DurabilityLevel level, Durability waitFor, uint timeoutMs, ServerCallContext context)
    {
        var tree = session.Tree;
        if (!tree.WritesBack) return (ToDurability(level), false);
        long version = session.Version;
        var state = await tree.GetPersistStateAsync(session.FileId, version, context.CancellationToken);
        if (state == PersistState.Pending && waitFor == Durability.Persisted)
        {
            var timeout = timeoutMs > 0 ? TimeSpan.FromMilliseconds(timeoutMs)
                : context.Deadline == DateTime.MaxValue ? Timeout.InfiniteTimeSpan
                : (context.Deadline - DateTime.UtcNow - TimeSpan.FromMilliseconds(100)) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;
            if (await tree.WaitPersistedAsync(session.FileId, version, timeout, context.CancellationToken)) state = PersistState.Persisted;
        }
        return state switch
        {
            PersistState.Persisted => (Durability.Persisted, false),
            PersistState.Pending => (ToDurability(level), true),
            _ => (ToDurability(level), false),
        };
    }

    /// <summary>Restores what the cloud tier holds under a prefix, streaming progress: after the listing, then as objects finish (at most one message waits).</summary>
    public override async Task Prefetch(PrefetchRequest request, IServerStreamWriter<PrefetchProgress> responseStream, ServerCallContext context)
    {
        var tree = registry.Get(request.Store);
        if (tree.ColdTier is null)
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"store '{tree.NamespaceName}' has no cloud tier (Cloud:Enabled is false)"));
        var ct = context.CancellationToken;
        var updates = System.Threading.Channels.Channel.CreateBounded<Engine.Files.PrefetchProgress>(
            new System.Threading.Channels.BoundedChannelOptions(1) { FullMode = System.Threading.Channels.BoundedChannelFullMode.DropOldest });
        var run = tree.PrefetchAsync(string.IsNullOrEmpty(request.Prefix) ? "/" : request.Prefix,
            request.Parallelism == 0 ? registry.PrefetchParallelism : (int)Math.Min(request.Parallelism, 64), new ChannelProgress(updates.Writer), ct);
        _ = run.ContinueWith(_ => updates.Writer.TryComplete(), TaskScheduler.Default);
        await foreach (var p in updates.Reader.ReadAllAsync(ct)) await responseStream.WriteAsync(ToProgress(p), ct);
        await responseStream.WriteAsync(ToProgress(await run), ct);
    }

    private static PrefetchProgress ToProgress(Engine.Files.PrefetchProgress p) => new()
    {
        ObjectsTotal = p.ObjectsTotal, BytesTotal = p.BytesTotal, ObjectsDone = p.ObjectsDone, BytesDone = p.BytesDone,
        ObjectsSkipped = p.ObjectsSkipped, ObjectsFailed = p.ObjectsFailed, ListingDone = p.ListingDone, CurrentPath = p.CurrentPath,
    };

    private sealed class ChannelProgress(System.Threading.Channels.ChannelWriter<Engine.Files.PrefetchProgress> writer) : IProgress<Engine.Files.PrefetchProgress>
    {
        public void Report(Engine.Files.PrefetchProgress value) => writer.TryWrite(value);
    }

    public override async Task<RenameResponse> Rename(RenameRequest request, ServerCallContext context)
    {
        await registry.Get(request.Store).RenameAsync(request.Source, request.Target, request.NoReplace, context.CancellationToken);
        return new RenameResponse();
    }

    public override async Task<DeleteResponse> Delete(DeleteRequest request, ServerCallContext context)
    {
        EngineEntryKind? expected = request.Expect switch
        {
            EntryKind.File => EngineEntryKind.File,
            EntryKind.Directory => EngineEntryKind.Directory,
            _ => null,
        };
        await registry.Get(request.Store).DeleteAsync(request.Path, request.Recursive, expected, context.CancellationToken);
        return new DeleteResponse();
    }

    public override async Task<SetAttributesResponse> SetAttributes(SetAttributesRequest request, ServerCallContext context)
    {
        var info = await registry.Get(request.Store).SetAttributesAsync(request.Path,
            request.HasMode ? (int)(request.Mode & 0xFFF) : null, request.HasModifiedUnixMs ? request.ModifiedUnixMs : null, context.CancellationToken);
        return new SetAttributesResponse { Entry = ToEntry(info) };
    }

    public override async Task<StatusResponse> Status(StatusRequest request, ServerCallContext context)
    {
        var objects = await registry.Get(request.Store).GetStatusAsync(request.Path, request.Limit == 0 ? 1000 : (int)request.Limit, context.CancellationToken);
        var response = new StatusResponse();
        response.Objects.AddRange(objects.Select(o => new ObjectStatus
        {
            Path = o.Path,
            Id = o.Id,
            State = o.State switch
            {
                Engine.Files.FileState.Committed => FileState.Committed,
                Engine.Files.FileState.Writing => FileState.Writing,
                _ => FileState.Damaged,
            },
            Durability = ToDurability(o.Durability),
            CommittedSize = o.CommittedSize,
            Version = o.Version,
            Blocks = o.Blocks,
            MissingBlocks = o.MissingBlocks,
            BlocksInRam = o.BlocksInRam,
            BlocksOnSsd = o.BlocksOnSsd,
            OpenSessions = o.OpenSessions,
            StagedBytes = o.StagedBytes,
            PersistPending = o.PersistPending,
            PersistedVersion = o.PersistedVersion,
            Replicas = (uint)o.Replicas,
            Origin = o.Origin,
        }));
        return response;
    }

    public override Task<UsageResponse> Usage(UsageRequest request, ServerCallContext context)
    {
        var usage = registry.Get(request.Store).GetUsage();
        return Task.FromResult(new UsageResponse
        {
            TotalBytes = usage.TotalBytes, UsedBytes = usage.UsedBytes, Files = usage.Files, Directories = usage.Directories, BlockBytes = usage.BlockBytes,
        });
    }
}
