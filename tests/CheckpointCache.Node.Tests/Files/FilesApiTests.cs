using CheckpointCache.Client.Files;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Files.V1;
using Grpc.Core;

namespace CheckpointCache.Node.Tests.Files;

/// <summary>The files API end to end over the Unix socket: streamed writes and reads, commits, renames, errors.</summary>
public sealed class FilesApiTests(NodeFixture fixture) : IClassFixture<NodeFixture>
{
    private FilesClient Connect() => FilesClient.Connect(fixture.Node.UnixEndpoint);

    private static string Unique(string name) => $"/{name}-{Guid.NewGuid():N}";

    [Fact]
    public async Task A_file_streamed_in_and_out_comes_back_byte_exact_and_committed_locally()
    {
        using var files = Connect();
        var dir = Unique("ckpt");
        await files.MkdirAsync(dir + "/step-1", parents: true);
        var content = TestData.Value(11, 40 * 1024 * 1024 + 12345);
        Assert.Equal(Durability.Local, await files.UploadAsync(dir + "/step-1/model.pt.tmp", new MemoryStream(content)));
        await files.RenameAsync(dir + "/step-1/model.pt.tmp", dir + "/step-1/model.pt");

        var entry = await files.StatAsync(dir + "/step-1/model.pt");
        Assert.Equal(content.Length, entry.Size);
        Assert.Equal(EntryKind.File, entry.Kind);
        var back = new MemoryStream();
        Assert.Equal(content.Length, await files.DownloadAsync(dir + "/step-1/model.pt", back));
        Assert.True(content.AsSpan().SequenceEqual(back.ToArray()));

        var status = (await files.StatusAsync(dir)).Objects.Single();
        Assert.Equal(FileState.Committed, status.State);
        Assert.Equal(Durability.Local, status.Durability);
        Assert.Equal(0, status.MissingBlocks);
        Assert.Equal(41, status.Blocks);
    }

    [Fact]
    public async Task Random_writes_through_a_session_are_private_until_commit()
    {
        using var files = Connect();
        var path = Unique("random");
        var open = await files.OpenAsync(path, OpenFlags.OpenRead | OpenFlags.OpenWrite | OpenFlags.OpenCreate);
        Assert.True(open.Created);
        var model = new byte[3 * 1024 * 1024];
        var random = new Random(3);
        await using (var stream = files.OpenWriteStream(open.SessionId))
        {
            for (int i = 0; i < 50; i++)
            {
                int offset = random.Next(0, model.Length - 70_000);
                var data = TestData.Value(i, random.Next(1, 70_000));
                data.CopyTo(model, offset);
                await stream.WriteAsync(offset, data);
            }
            await stream.WriteAsync(model.Length - 1, new byte[] { model[^1] });
            var taken = await stream.CompleteAsync();
            Assert.Equal(model.Length, taken.Size);
        }
        // Other readers see the committed (empty) version; the session sees its own writes.
        Assert.Equal(0, (await files.StatAsync(path)).CommittedSize);
        Assert.Equal(model.Length, (await files.StatAsync(path)).Size);
        var own = new byte[model.Length];
        Assert.Equal(model.Length, await files.ReadAsync(open.SessionId, 0, own));
        Assert.Equal(model, own);

        var commit = await files.CommitAsync(open.SessionId);
        Assert.Equal(Durability.Local, commit.Durability);
        await files.CloseAsync(open.SessionId, commit: false);
        var back = new byte[model.Length + 10];
        Assert.Equal(model.Length, await files.ReadPathAsync(path, 0, back));
        Assert.Equal(model, back[..model.Length]);
    }

    [Fact]
    public async Task Refusals_carry_the_status_and_the_precise_reason()
    {
        using var files = Connect();
        var dir = Unique("errors");
        await files.MkdirAsync(dir + "/full/x", parents: true);
        await files.UploadAsync(dir + "/f", new MemoryStream([1, 2, 3]));

        async Task<FilesClientException> Refused(Func<Task> call) => await Assert.ThrowsAsync<FilesClientException>(call);
        var e = await Refused(() => files.StatAsync(dir + "/missing"));
        Assert.Equal((StatusCode.NotFound, FilesError.NotFound), (e.Status, e.Error));
        e = await Refused(() => files.MkdirAsync(dir + "/full"));
        Assert.Equal((StatusCode.AlreadyExists, FilesError.AlreadyExists), (e.Status, e.Error));
        e = await Refused(() => files.DeleteAsync(dir + "/full"));
        Assert.Equal((StatusCode.FailedPrecondition, FilesError.NotEmpty), (e.Status, e.Error));
        e = await Refused(() => files.StatAsync(dir + "/../etc/passwd"));
        Assert.Equal((StatusCode.InvalidArgument, FilesError.InvalidArgument), (e.Status, e.Error));
        e = await Refused(() => files.MkdirAsync(dir + "/" + new string('x', 300)));
        Assert.Equal(FilesError.NameTooLong, e.Error);
        e = await Refused(() => files.CommitAsync(12345));
        Assert.Equal((StatusCode.NotFound, FilesError.SessionNotFound), (e.Status, e.Error));
        e = await Refused(() => files.OpenAsync(dir + "/f", OpenFlags.OpenWrite | OpenFlags.OpenCreate | OpenFlags.OpenExclusive));
        Assert.Equal(FilesError.AlreadyExists, e.Error);
        e = await Refused(() => files.StatAsync("/x", store: "kv"));
        Assert.Equal(FilesError.NotFound, e.Error);

        await files.DeleteAsync(dir, recursive: true);
        Assert.Equal(FilesError.NotFound, (await Refused(() => files.StatAsync(dir))).Error);
    }

    [Fact]
    public async Task Listing_pages_through_a_large_directory_in_name_order()
    {
        using var files = Connect();
        var dir = Unique("list");
        await files.MkdirAsync(dir);
        for (int i = 0; i < 25; i++) await files.MkdirAsync($"{dir}/d{i:D3}");
        var names = new List<string>();
        string after = "";
        int pages = 0;
        do
        {
            var page = await files.ListPageAsync(dir, after, pageSize: 10);
            names.AddRange(page.Entries.Select(e => e.Name));
            after = page.NextAfter;
            pages++;
        } while (after.Length > 0);
        Assert.Equal(3, pages);
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"d{i:D3}"), names);
    }
}
