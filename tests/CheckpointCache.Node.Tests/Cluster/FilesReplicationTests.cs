using System.Text;
using CheckpointCache.Client.Files;
using CheckpointCache.Cluster.Membership;
using CheckpointCache.Cluster.Placement;
using CheckpointCache.Node.Tests.Infrastructure;
using CheckpointCache.Rpc.Files.V1;
using Grpc.Core;

namespace CheckpointCache.Node.Tests.Cluster;

/// <summary>
/// Checkpoint files in a files store replicated by directory (Replicas 2): commits that wait for the second copy, reads
/// through any node after kill -9 of the writer, deletes that stay deleted, and refill of a joining node.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class FilesReplicationTests
{
    private static FilesClient Files(ClusterMember m) => new(m.Client);

    /// <summary>
    /// The members that hold a version of a file in <paramref name="directory"/> written by <paramref name="writer"/>: the
    /// writer, and the member rendezvous hashing of the directory path ranks first among the others.
    /// </summary>
    private static HashSet<string> ExpectedHolders(string directory, string writer, IEnumerable<string> ids)
    {
        var others = new MemberView(1, ids.Where(id => id != writer).Select(id => new Member(id, "http://unused", new Dictionary<string, string>())));
        var holders = RendezvousPlacement.Owners(Encoding.UTF8.GetBytes(directory), others, TestCluster.Replicas - 1).Select(m => m.Id).ToHashSet();
        if (ids.Contains(writer)) holders.Add(writer);
        return holders;
    }

    /// <summary>Whether the node holds the file itself: Status answers from the local tree only.</summary>
    private static async Task<bool> HoldsAsync(ClusterMember m, string path)
    {
        try
        {
            using var files = Files(m);
            return (await files.StatusAsync(path)).Objects.Any(o => o.Path == path && o.State == FileState.Committed);
        }
        catch (FilesClientException e) when (e.Status == StatusCode.NotFound)
        {
            return false;
        }
    }

    private static async Task<HashSet<string>> HoldersAsync(IEnumerable<ClusterMember> members, string path)
    {
        var holders = new HashSet<string>();
        foreach (var m in members) if (await HoldsAsync(m, path)) holders.Add(m.Id);
        return holders;
    }

    private static async Task<CommitResponse> WriteAsync(FilesClient files, string path, byte[] content)
    {
        var open = await files.OpenAsync(path, OpenFlags.OpenWrite | OpenFlags.OpenCreate | OpenFlags.OpenTruncate);
        await using (var stream = files.OpenWriteStream(open.SessionId))
        {
            await stream.WriteAsync(0, content);
            await stream.CompleteAsync();
        }
        var commit = await files.CommitAsync(open.SessionId);
        await files.CloseAsync(open.SessionId, commit: false);
        return commit;
    }

    private static bool Same(byte[] expected, byte[] actual) => expected.AsSpan().SequenceEqual(actual);

    private static async Task<byte[]> ReadAsync(ClusterMember m, string path)
    {
        using var files = Files(m);
        var back = new MemoryStream();
        await files.DownloadAsync(path, back);
        return back.ToArray();
    }

    [Fact]
    public async Task A_commit_waits_for_the_second_copy_and_the_file_survives_kill_of_its_writer_and_its_return()
    {
        if (!EtcdProcess.Installed) throw new InvalidOperationException("etcd-server is not installed (scripts/test.sh installs it)");
        using var cluster = await TestCluster.StartAsync(3);
        var writer = cluster["n1"];
        const string directory = "/job-a/step-100";
        const string path = directory + "/model.pt";
        var content = TestData.Value(7, 6 * 1024 * 1024 + 4321);
        using (var files = Files(writer))
        {
            await files.MkdirAsync(directory, parents: true);
            var commit = await WriteAsync(files, path, content);
            Assert.Equal(Durability.Replicated, commit.Durability);
            Assert.Equal((uint)TestCluster.Replicas, commit.Replicas);
            var status = (await files.StatusAsync(path)).Objects.Single();
            Assert.Equal(Durability.Replicated, status.Durability);
            Assert.Equal("n1", status.Origin);
        }

        // The writer and exactly one other node hold it: the one rendezvous hashing of the directory picks.
        var expected = ExpectedHolders(directory, "n1", ["n1", "n2", "n3"]);
        Assert.Equal(2, expected.Count);
        Assert.True(expected.SetEquals(await HoldersAsync(cluster.Members, path)), $"held by [{string.Join(",", await HoldersAsync(cluster.Members, path))}], expected [{string.Join(",", expected)}]");

        // One copy went out, counted by the writer and by the node that took it.
        var sent = await writer.StatsAsync();
        Assert.Equal(1ul, sent.FileWriteCopiesSent);
        Assert.Equal((ulong)content.Length, sent.FileBytesSent);
        Assert.Equal(1ul, (await cluster[expected.Single(h => h != "n1")].StatsAsync()).FileCopiesReceived);

        await writer.Process.KillAsync();
        var survivors = cluster.Members.Where(m => m.Id != "n1").ToList();
        // Byte for byte through both survivors: the holder from itself, the other from the holder (it keeps a copy).
        foreach (var s in survivors)
            Assert.True(Same(content, await ReadAsync(s, path)), $"{s.Id} read {path} wrong");

        // The writer's lease runs out; the survivors settle with two copies between them.
        await TestCluster.WaitSettledAsync(survivors);
        Assert.True(new HashSet<string> { "n2", "n3" }.SetEquals(await HoldersAsync(survivors, path)));
        foreach (var s in survivors)
            Assert.True(Same(content, await ReadAsync(s, path)), $"{s.Id} read {path} wrong after settling");

        // The writer comes back on its old disk: it holds the version again with the member ranked first for the
        // directory, and the copy that was only there for the survivors goes.
        await writer.StartAgainAsync();
        await TestCluster.WaitSettledAsync(cluster.Members);
        var back = await HoldersAsync(cluster.Members, path);
        Assert.True(expected.SetEquals(back), $"after the writer returned: held by [{string.Join(",", back)}], expected [{string.Join(",", expected)}]");
        Assert.True(Same(content, await ReadAsync(writer, path)));
    }

    [Fact]
    public async Task A_renamed_then_deleted_file_stays_deleted_when_a_node_comes_back_with_its_old_copy()
    {
        if (!EtcdProcess.Installed) throw new InvalidOperationException("etcd-server is not installed (scripts/test.sh installs it)");
        using var cluster = await TestCluster.StartAsync(3);
        const string directory = "/job-b/step-7";
        const string temp = directory + "/weights.pt.tmp";
        const string final = directory + "/weights.pt";
        var content = TestData.Value(21, 3 * 1024 * 1024 + 17);
        using (var files = Files(cluster["n1"]))
        {
            await files.MkdirAsync(directory, parents: true);
            Assert.Equal(Durability.Replicated, (await WriteAsync(files, temp, content)).Durability);
            await files.RenameAsync(temp, final);
        }
        // The rename moved the copy too: same directory, same holders, no temp name left anywhere.
        var holders = ExpectedHolders(directory, "n1", ["n1", "n2", "n3"]);
        Assert.True(holders.SetEquals(await HoldersAsync(cluster.Members, final)));
        Assert.Empty(await HoldersAsync(cluster.Members, temp));
        foreach (var m in cluster.Members) Assert.True(Same(content, await ReadAsync(m, final)), $"{m.Id} read {final} wrong");

        // The other holder goes down with its copy; the file is deleted meanwhile.
        var away = cluster[holders.Single(h => h != "n1")];
        await away.Process.KillAsync();
        var others = cluster.Members.Where(m => m != away).ToList();
        using (var files = Files(cluster["n1"])) await files.DeleteAsync(final);
        await TestCluster.WaitSettledAsync(others);

        // Back on its old disk, it learns of the delete from the holders' tombstones instead of bringing the file back.
        await away.StartAgainAsync();
        await TestCluster.WaitSettledAsync(cluster.Members);
        Assert.Empty(await HoldersAsync(cluster.Members, final));
        foreach (var m in cluster.Members)
        {
            using var files = Files(m);
            var e = await Assert.ThrowsAsync<FilesClientException>(() => files.StatAsync(final));
            Assert.Equal(StatusCode.NotFound, e.Status);
            Assert.DoesNotContain((await files.ListAsync(directory)), entry => entry.Name == "weights.pt");
        }
    }

    [Fact]
    public async Task A_file_overwritten_through_another_node_is_read_in_its_new_version_everywhere()
    {
        if (!EtcdProcess.Installed) throw new InvalidOperationException("etcd-server is not installed (scripts/test.sh installs it)");
        using var cluster = await TestCluster.StartAsync(3);
        const string directory = "/job-d";
        const string path = directory + "/latest.json";
        var v1 = TestData.Value(31, 150_000);
        var v2 = TestData.Value(32, 90_000);
        using (var files = Files(cluster["n1"]))
        {
            await files.MkdirAsync(directory, parents: true);
            Assert.Equal(2u, (await WriteAsync(files, path, v1)).Replicas);
        }
        string[] ids = ["n1", "n2", "n3"];
        var third = ids.Single(id => !ExpectedHolders(directory, "n1", ids).Contains(id));

        // Written again through the node that held no copy: the new version's holders have it, the old copy elsewhere is gone.
        using (var files = Files(cluster[third])) Assert.Equal(2u, (await WriteAsync(files, path, v2)).Replicas);
        var expected = ExpectedHolders(directory, third, ids);
        var held = await HoldersAsync(cluster.Members, path);
        Assert.True(expected.SetEquals(held), $"held by [{string.Join(",", held)}], expected [{string.Join(",", expected)}]");
        foreach (var m in cluster.Members) Assert.True(Same(v2, await ReadAsync(m, path)), $"{m.Id} read an old version of {path}");
    }

    [Fact]
    public async Task A_rename_between_directories_moves_the_copy_to_the_new_directorys_holders_and_listings_merge_them()
    {
        if (!EtcdProcess.Installed) throw new InvalidOperationException("etcd-server is not installed (scripts/test.sh installs it)");
        using var cluster = await TestCluster.StartAsync(3);
        string[] ids = ["n1", "n2", "n3"];
        // Two directories whose holders besides the writer differ, so the rename has to move the copy.
        var (from, to) = Enumerable.Range(0, 50).Select(i => $"/job-e/s{i}").SelectMany(a => Enumerable.Range(50, 50).Select(j => (a, $"/job-e/s{j}")))
            .First(p => !ExpectedHolders(p.a, "n1", ids).SetEquals(ExpectedHolders(p.Item2, "n1", ids)));
        var content = TestData.Value(41, 1_500_000);
        using (var files = Files(cluster["n1"]))
        {
            await files.MkdirAsync(from, parents: true);
            await files.MkdirAsync(to, parents: true);
            Assert.Equal(2u, (await WriteAsync(files, from + "/shard.bin", content)).Replicas);
            await files.RenameAsync(from + "/shard.bin", to + "/shard.bin");
        }
        Assert.Empty(await HoldersAsync(cluster.Members, from + "/shard.bin"));
        var expected = ExpectedHolders(to, "n1", ids);
        var held = await HoldersAsync(cluster.Members, to + "/shard.bin");
        Assert.True(expected.SetEquals(held), $"held by [{string.Join(",", held)}], expected [{string.Join(",", expected)}]");

        // A node that holds nothing of the directory lists it from the directory's owners.
        var outsider = cluster[ids.Single(id => !expected.Contains(id))];
        using (var files = Files(outsider))
        {
            var entry = Assert.Single(await files.ListAsync(to));
            Assert.Equal("shard.bin", entry.Name);
            Assert.Equal(content.Length, entry.Size);
            Assert.Empty(await files.ListAsync(from));
        }
        Assert.True(Same(content, await ReadAsync(outsider, to + "/shard.bin")));
    }

    [Fact]
    public async Task A_joining_node_receives_exactly_the_directories_rendezvous_hashing_assigns_it()
    {
        if (!EtcdProcess.Installed) throw new InvalidOperationException("etcd-server is not installed (scripts/test.sh installs it)");
        using var cluster = await TestCluster.StartAsync(3);
        // Twelve checkpoint directories with two files each, written through each of the three nodes in turn.
        var written = new List<(string Path, string Directory, string Writer, byte[] Content)>();
        for (int d = 0; d < 12; d++)
        {
            var writer = cluster.Members[d % 3];
            var directory = $"/job-c/step-{d}";
            using var files = Files(writer);
            await files.MkdirAsync(directory, parents: true);
            foreach (var name in new[] { "model.pt", "optim.pt" })
            {
                var content = TestData.Value(100 + d, 200_000 + d * 1000 + name.Length);
                Assert.Equal((uint)TestCluster.Replicas, (await WriteAsync(files, $"{directory}/{name}", content)).Replicas);
                written.Add(($"{directory}/{name}", directory, writer.Id, content));
            }
        }
        await TestCluster.WaitSettledAsync(cluster.Members);

        var n4 = await cluster.AddAsync("n4");
        await TestCluster.WaitSettledAsync(cluster.Members);
        string[] four = ["n1", "n2", "n3", "n4"];
        foreach (var (path, directory, writer, _) in written)
        {
            var expected = ExpectedHolders(directory, writer, four);
            var held = await HoldersAsync(cluster.Members, path);
            Assert.True(expected.SetEquals(held), $"{path} (written by {writer}) is held by [{string.Join(",", held)}], expected [{string.Join(",", expected)}]");
        }
        Assert.Contains(written, w => ExpectedHolders(w.Directory, w.Writer, four).Contains("n4"));

        // n4 serves every file, its own from itself and the others from their holders.
        foreach (var (path, _, _, content) in written)
            Assert.True(Same(content, await ReadAsync(n4, path)), $"n4 read {path} wrong");
        var stats = await n4.StatsAsync();
        Assert.True(stats.FileCopiesReceived > 0);
    }
}
