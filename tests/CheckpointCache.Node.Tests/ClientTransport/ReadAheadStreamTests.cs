using System.Net.Sockets;
using CheckpointCache.Client;

namespace CheckpointCache.Node.Tests.ClientTransport;

/// <summary>The client's read-ahead connection stream over a real socket pair: same bytes, same end-of-stream, zero-byte reads wait.</summary>
public sealed class ReadAheadStreamTests
{
    private static (ReadAheadStream Reader, NetworkStream Writer) Pair(int bufferBytes)
    {
        var (a, b) = SocketPair();
        return (new ReadAheadStream(new NetworkStream(a, ownsSocket: true), bufferBytes), new NetworkStream(b, ownsSocket: true));
    }

    private static (Socket, Socket) SocketPair()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        return (client, listener.Accept());
    }

    [Fact]
    public async Task Reads_of_every_size_return_the_bytes_in_order_and_then_end_of_stream()
    {
        var (reader, writer) = Pair(64 * 1024);
        await using var _ = reader;
        var sent = new byte[3_000_000];
        new Random(7).NextBytes(sent);
        var writing = Task.Run(async () =>
        {
            await using (writer)
            {
                for (int offset = 0; offset < sent.Length; offset += 100_003)
                    await writer.WriteAsync(sent.AsMemory(offset, Math.Min(100_003, sent.Length - offset)));
            }
        });
        var received = new MemoryStream();
        var random = new Random(11);
        var buffer = new byte[200_000];
        while (true)
        {
            // Sizes below, at and above the read-ahead buffer, and zero-byte reads that must wait for data.
            int size = random.Next(4) switch { 0 => 0, 1 => random.Next(1, 20), 2 => random.Next(1, 70_000), _ => 200_000 };
            int n = await reader.ReadAsync(buffer.AsMemory(0, size));
            if (size == 0) continue;
            if (n == 0) break;
            received.Write(buffer, 0, n);
        }
        await writing;
        Assert.Equal(sent, received.ToArray());
    }

    [Fact]
    public async Task A_zero_byte_read_completes_only_when_data_arrives()
    {
        var (reader, writer) = Pair(4096);
        await using var _ = reader;
        await using var __ = writer;
        var waiting = reader.ReadAsync(Memory<byte>.Empty).AsTask();
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        await writer.WriteAsync(new byte[] { 42, 43 });
        Assert.Equal(0, await waiting);
        var two = new byte[2];
        Assert.Equal(2, await reader.ReadAsync(two));
        Assert.Equal(new byte[] { 42, 43 }, two);
        // Writes pass through untouched.
        await reader.WriteAsync(new byte[] { 7 });
        var one = new byte[1];
        Assert.Equal(1, await writer.ReadAsync(one));
        Assert.Equal(7, one[0]);
    }
}
