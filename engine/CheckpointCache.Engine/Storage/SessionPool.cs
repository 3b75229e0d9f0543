using System.Collections.Concurrent;
using FASTER.core;

namespace CheckpointCache.Engine.Storage;

using Session = ClientSession<SpanByte, SpanByte, RecordInput, RecordOutput, Empty, RecordFunctions>;

/// <summary>
/// FASTER sessions are single-threaded with one operation in flight; creating one per operation
/// is wasteful, so callers borrow one for the duration of a single operation.
/// </summary>
internal sealed class SessionPool : IDisposable
{
    private readonly ConcurrentBag<Session> _idle = new();
    private readonly Func<Session> _factory;
    private int _created;
    private bool _disposed;

    public SessionPool(Func<Session> factory) => _factory = factory;

    public int Created => Volatile.Read(ref _created);

    public Session Rent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_idle.TryTake(out var session)) return session;
        Interlocked.Increment(ref _created);
        return _factory();
    }

    public void Return(Session session)
    {
        if (_disposed) session.Dispose();
        else _idle.Add(session);
    }

    public void Dispose()
    {
        _disposed = true;
        while (_idle.TryTake(out var session)) session.Dispose();
    }
}
