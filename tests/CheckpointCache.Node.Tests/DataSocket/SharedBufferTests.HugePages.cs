using CheckpointCache.Client;
using CheckpointCache.Client.DataSocket;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Node.Tests.Infrastructure;
using Grpc.Core;
using static CheckpointCache.Node.Tests.Infrastructure.LimitedNodeFixture;

namespace CheckpointCache.Node.Tests.DataSocket;

/// <summary>
/// Shared buffers in huge pages (memfds made with MFD_HUGETLB): taken when the system's pool has room, mapped by the
/// node, values byte for byte as through gRPC; ordinary pages when the pool is short; a node that refuses them, or a
/// registration declaring part of a huge page, gets a status naming why, and the client still moves its values.
/// </summary>
public sealed partial class SharedBufferTests
{
    private const int HugePage = 2 * 1024 * 1024;

    [Fact]
    public async Task BuffersInHugePagesCarryValuesBothWaysByteForByte()
    {
        using var pool = HugePagePool.Add(4);
        using var source = SharedBuffer.Allocate(2 * HugePage, _name);
        using var destination = SharedBuffer.Allocate(2 * HugePage, _name);
        Assert.True(source.HugePages && destination.HugePages, "the pool had room, so both buffers lie in huge pages");
        Assert.True(LinuxMemory.MapsInHugePages(Environment.ProcessId, _name), "the kernel maps them in 2 MiB pages");

        var sizes = new[] { 1, 4097, 1_000_003, MaxValueBytes };
        var values = sizes.Select((n, i) => TestData.Value(700 + i, n)).ToList();
        var items = new List<KvItem>();
        int offset = 0;
        for (int i = 0; i < values.Count; i++)
        {
            values[i].CopyTo(source.Memory[offset..]);
            items.Add(new KvItem(TestData.Key($"huge-put-{i}"), source.Memory.Slice(offset, values[i].Length)));
            offset += values[i].Length;
        }
        foreach (var chunk in items.Chunk(2)) Assert.All(await _client.BatchPutAsync(_ns, chunk), r => Assert.True(r.Ok, r.Message));
        // The node mapped the buffer (one more mapping of it in this process) and read the values out of it.
        Assert.Equal(3, Mappings());
        for (int i = 0; i < values.Count; i++)
            Assert.Equal(values[i], (await _grpc.BatchGetAsync(_ns, [items[i].Key]))[0].Value);

        destination.Memory.Span.Fill(0xEE);
        var places = new List<Memory<byte>>();
        offset = 0;
        foreach (var n in sizes)
        {
            places.Add(destination.Memory.Slice(offset, n));
            offset += n;
        }
        var keys = items.Select(i => i.Key).ToList();
        var got = (await _client.BatchGetIntoAsync(_ns, keys.Take(2).ToList(), places.Take(2).ToList()))
            .Concat(await _client.BatchGetIntoAsync(_ns, keys.Skip(2).ToList(), places.Skip(2).ToList())).ToList();
        for (int i = 0; i < values.Count; i++)
        {
            Assert.True(got[i].Hit, got[i].Message);
            Assert.Equal(values[i], places[i].ToArray());
        }
        Assert.All(destination.Memory[offset..].ToArray(), b => Assert.Equal(0xEE, b));
        Assert.Equal(4, Mappings());
    }

    [Fact]
    public async Task WithoutRoomInThePoolABufferTakesOrdinaryPagesAndStillWorks()
    {
        using var pool = HugePagePool.Add(1);
        // More than the whole pool: the mapping cannot reserve its pages, so the buffer falls back.
        using var buffer = HugePagePool.WhileTotalHolds(total => SharedBuffer.Allocate(checked((int)((total + 1) * HugePage)), _name));
        Assert.False(buffer.HugePages);
        Assert.False(LinuxMemory.MapsInHugePages(Environment.ProcessId, _name));
        var value = TestData.Value(800, 1_500_000);
        value.CopyTo(buffer.Memory);
        Assert.True((await _client.BatchPutAsync(_ns, [new(TestData.Key("fallback"), buffer.Memory[..value.Length])]))[0].Ok);
        Assert.Equal(value, (await _grpc.BatchGetAsync(_ns, [TestData.Key("fallback")]))[0].Value);
    }

    [Fact]
    public async Task ARegistrationDeclaringPartOfAHugePageIsInvalidArgument()
    {
        using var pool = HugePagePool.Add(1);
        using var buffer = SharedBuffer.Allocate(HugePage, _name);
        Assert.True(buffer.HugePages);
        using var wire = await WireConnection.ConnectAsync(_path, CancellationToken.None);
        await StartRegistrationAsync(wire, HugePage / 2);
        LinuxMemory.SendDescriptor((int)wire.Socket.Handle, DescriptorOf(buffer), 5000);
        await ExpectStatusAsync(wire, StatusCode.InvalidArgument, "whole number of them (2097152 bytes each); 1048576 were declared");
        Assert.Equal(1, Mappings());
    }

    [Fact]
    public async Task ANodeThatRefusesHugePagesSaysSoAndTheClientMovesValuesThroughTheSocket()
    {
        await using var node = await TestNode.StartAsync(s => s["Limits:AllowHugePageSharedBuffers"] = "false");
        using var client = node.Connect();
        var ns = await TestData.DeclareAsync(client, "no-huge-pages");
        using var pool = HugePagePool.Add(2);
        using var buffer = SharedBuffer.Allocate(2 * HugePage, _name);
        Assert.True(buffer.HugePages);

        using (var wire = await WireConnection.ConnectAsync((await client.GetInfoAsync()).DataSocket, CancellationToken.None))
        {
            await StartRegistrationAsync(wire, buffer.Length);
            LinuxMemory.SendDescriptor((int)wire.Socket.Handle, DescriptorOf(buffer), 5000);
            await ExpectStatusAsync(wire, StatusCode.InvalidArgument, "Limits:AllowHugePageSharedBuffers");
        }

        var value = TestData.Value(900, 1_200_000);
        value.CopyTo(buffer.Memory);
        Assert.True((await client.BatchPutAsync(ns, [new(TestData.Key("refused"), buffer.Memory[..value.Length])]))[0].Ok);
        buffer.Memory.Span.Clear();
        var got = await client.BatchGetIntoAsync(ns, [TestData.Key("refused")], [buffer.Memory.Slice(HugePage, value.Length)]);
        Assert.True(got[0].Hit, got[0].Message);
        Assert.Equal(value, buffer.Memory.Slice(HugePage, value.Length).ToArray());
        // Only the client's own mapping: the node never mapped the buffer.
        Assert.Equal(1, Mappings());
    }
}
