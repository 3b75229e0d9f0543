using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Mount.Tests.Infrastructure;
using CheckpointCache.Tests.Shared;

namespace CheckpointCache.Mount.Tests;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HugePageCollection
{
    public const string Name = "huge pages";
}

/// <summary>
/// A mount whose shared buffers lie in huge pages, byte for byte both ways. Alone in its collection: a mount another
/// test started meanwhile could take the pages this test adds to the pool.
/// </summary>
[Collection(HugePageCollection.Name)]
public sealed class HugePageMountTests(MountFixture fixture) : IClassFixture<MountFixture>
{
    private NodeAndMount Setup => fixture.Setup;

    [FuseFact]
    public async Task Shared_buffers_in_huge_pages_carry_file_bytes_both_ways()
    {
        // Room for the mount's buffers (3 x 8 read slots of 2 MiB, 8 x 16 write slots of 1 MiB) in 2 MiB pages.
        // Some slack: a test of another process may hold a few pages of the pool meanwhile.
        using var pool = HugePagePool.Add(24 + 64 + 8);
        var mnt = Path.Combine(Setup.Scratch, "mnt-huge");
        var local = Setup.Local("huge");
        Directory.CreateDirectory(mnt);
        Directory.CreateDirectory(local);
        var mount = await Setup.StartMountAsync(mnt);
        try
        {
            Assert.True(LinuxMemory.MapsInHugePages(mount.Pid, "checkpointcache-mount-writes"));
            Assert.True(LinuxMemory.MapsInHugePages(mount.Pid, "checkpointcache-mount-reads"));
            await Shell.OkAsync($"head -c 50000017 /dev/urandom > {local}/src");
            // Unaligned pieces, so the mount gathers blocks in its slots, then whole blocks.
            await Shell.OkAsync($"dd if={local}/src of={mnt}/pieces bs=100000 conv=fsync status=none");
            await Shell.OkAsync($"dd if={local}/src of={mnt}/blocks bs=4M conv=fsync status=none");
            await Shell.OkAsync($"cmp {local}/src {mnt}/pieces && cmp {local}/src {mnt}/blocks");
            await Shell.OkAsync($"dd if={mnt}/blocks of={local}/back bs=1M iflag=direct status=none && cmp {local}/src {local}/back");
            // The node read the written bytes out of those pages and wrote the read ones into them.
            Assert.True(LinuxMemory.MapsInHugePages(Setup.Node!.Pid, "checkpointcache-mount-writes"));
            Assert.True(LinuxMemory.MapsInHugePages(Setup.Node!.Pid, "checkpointcache-mount-reads"));
        }
        finally
        {
            await Shell.OkAsync($"umount {mnt}");
        }
    }
}
