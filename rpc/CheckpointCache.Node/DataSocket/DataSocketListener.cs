using System.Collections.Concurrent;
using System.Net.Sockets;
using CheckpointCache.Client.DataSocket;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Node.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Node.DataSocket;

/// <summary>
/// Listens on the data socket (Node:DataSocketPath) and serves each connection on its own loop, one call after
/// another. Connections past Limits:MaxDataConnections get RESOURCE_EXHAUSTED and are closed. Stopping closes the
/// listener and every connection: a put cut that way is abandoned, never published.
/// </summary>
public sealed class DataSocketListener(DataSocketEndpoint endpoint, DataSocketCalls calls, Microsoft.Extensions.Options.IOptions<Options.LimitsOptions> limits,
    ILogger<DataSocketListener> logger) : IHostedService
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<WireConnection, Task> _connections = new();
    private Socket? _listener;
    private Task _accepting = Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (endpoint.Path is not { } path) return Task.CompletedTask;
        UnixSocketFile.Prepare(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(512);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        _listener = listener;
        _accepting = AcceptAsync(listener);
        logger.LogInformation("Data socket for BatchGet/BatchPut without HTTP/2 at {DataSocket}", path);
        return Task.CompletedTask;
    }

    private async Task AcceptAsync(Socket listener)
    {
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || token.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                logger.LogWarning("Data socket accept failed: {Error}", e.Message);
                continue;
            }
            var wire = new WireConnection(socket);
            if (_connections.Count >= limits.Value.MaxDataConnections)
            {
                _ = RefuseAsync(wire, token);
                continue;
            }
            _connections[wire] = Serve(wire, token);
        }
    }

    private async Task RefuseAsync(WireConnection wire, CancellationToken token)
    {
        using (wire)
        {
            try
            {
                wire.WriteUInt32(DataWire.ResponseMagic);
                wire.WriteInt32((int)Grpc.Core.StatusCode.ResourceExhausted);
                wire.WriteString($"{_connections.Count} data-socket connections are open, the most Limits:MaxDataConnections ({limits.Value.MaxDataConnections}) allows");
                await wire.FlushAsync(token);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>
    /// Serves one connection on its own thread: it sleeps in poll() until a call arrives and then runs the call
    /// itself, so a call wakes one thread, not the socket engine's thread and then a thread-pool thread. A call
    /// that waits (a disk read) continues on the thread pool while this thread waits for it.
    /// </summary>
    private Task Serve(WireConnection wire, CancellationToken token)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                ServeCalls(wire, token);
            }
            finally
            {
                done.SetResult();
            }
        })
        { IsBackground = true, Name = "data-socket connection" };
        thread.Start();
        return done.Task;
    }

    private void ServeCalls(WireConnection wire, CancellationToken token)
    {
        using var regions = new SharedRegions(limits.Value);
        using var callEnded = new ManualResetEventSlim(false, spinCount: 0);
        try
        {
            int fd = (int)wire.Socket.Handle;
            while (!token.IsCancellationRequested)
            {
                // Stopping shuts the socket down, which ends the wait at once; the timeout is only a safety net.
                if (wire.Buffered == 0 && !LinuxMemory.WaitReadable(fd, 2000)) continue;
                if (!wire.WaitForFrameAsync(token).AsTask().GetAwaiter().GetResult()) break;
                if (!WaitWithoutSpinning(calls.ServeAsync(wire, regions, token), callEnded)) break;
            }
        }
        catch (Exception e) when (e is EndOfStreamException or SocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // The client went away or the node is stopping: whatever call was open is abandoned.
        }
        catch (Exception e)
        {
            logger.LogError(e, "Data socket connection failed");
        }
        finally
        {
            wire.Dispose();
            _connections.TryRemove(wire, out _);
        }
    }

    /// <summary>
    /// Blocks this connection's thread until a call that went asynchronous (an SSD hit's disk read) has ended.
    /// Task.Wait spins before it blocks: in a profile of the node serving SSD hits to four connections on 2 cores,
    /// that spinning was 6% of the node's CPU, taken from the I/O threads and the thread pool finishing those reads.
    /// <paramref name="ended"/> is the connection's own event (one call at a time), not one made per call.
    /// </summary>
    private static bool WaitWithoutSpinning(Task<bool> call, ManualResetEventSlim ended)
    {
        if (!call.IsCompleted)
        {
            ended.Reset();
            call.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(ended.Set);
            ended.Wait();
        }
        return call.GetAwaiter().GetResult();
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is null) return;
        await _stopping.CancelAsync();
        _listener.Dispose();
        foreach (var wire in _connections.Keys)
        {
            // A shutdown wakes the connection's thread out of poll(), which closing the descriptor would not.
            try { wire.Socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            wire.Dispose();
        }
        try
        {
            await Task.WhenAll(_connections.Values.Append(_accepting)).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
        if (endpoint.Path is { } path && File.Exists(path)) File.Delete(path);
    }
}
