using CheckpointCache.Mount.Tests.Infrastructure;

namespace CheckpointCache.Mount.Tests;

/// <summary>
/// Everyday tools on a real FUSE mount of a real node, checked byte for byte against the local disk:
/// cp of 1 GiB both ways, dd, tar, rsync -a, fio --verify, ls -l, rm -r; the file bytes go through shared buffers.
/// </summary>
public sealed class ToolsTests(MountFixture fixture) : IClassFixture<MountFixture>
{
    private NodeAndMount Setup => fixture.Setup;

    /// <summary>A folder of this test's own on the mount and one on the local disk.</summary>
    private (string Mnt, string Local) Folders(string name)
    {
        var mnt = Setup.Mnt(name);
        var local = Setup.Local(name);
        Directory.CreateDirectory(mnt);
        Directory.CreateDirectory(local);
        return (mnt, local);
    }

    [FuseFact]
    public async Task Copying_a_1GiB_file_in_and_back_out_is_byte_exact()
    {
        var (mnt, local) = Folders("cp");
        await Shell.OkAsync($"head -c 1G /dev/urandom > {local}/big");
        await Shell.OkAsync($"cp {local}/big {mnt}/big");
        Assert.Equal("1073741824", await Shell.OkAsync($"stat -c %s {mnt}/big"));
        await Shell.OkAsync($"cmp {local}/big {mnt}/big");
        await Shell.OkAsync($"cp {mnt}/big {local}/back");
        var sums = await Shell.OkAsync($"md5sum < {local}/big; md5sum < {local}/back");
        var lines = sums.Split('\n');
        Assert.Equal(lines[0], lines[1]);
        await Shell.OkAsync($"rm {mnt}/big {local}/big {local}/back");
    }

    [FuseFact]
    public async Task File_bytes_move_through_shared_buffers_the_node_maps()
    {
        var (mnt, local) = Folders("shared");
        await Shell.OkAsync($"head -c 40000001 /dev/urandom > {local}/src");
        await Shell.OkAsync($"dd if={local}/src of={mnt}/out bs=1M conv=fsync status=none");
        await Shell.OkAsync($"cat {mnt}/out > {local}/back && cmp {local}/src {local}/back");
        // The node mapped the mount's buffers: it read the written bytes out of them and wrote the read ones into them.
        var maps = await File.ReadAllTextAsync($"/proc/{Setup.Node!.Pid}/maps");
        Assert.Contains("memfd:checkpointcache-mount-writes", maps);
        Assert.Contains("memfd:checkpointcache-mount-reads", maps);
    }

    [FuseFact]
    public async Task Dd_writes_reads_and_overwrites_in_place()
    {
        var (mnt, local) = Folders("dd");
        await Shell.OkAsync($"head -c 48M /dev/urandom > {local}/src && head -c 3M /dev/urandom > {local}/patch");
        await Shell.OkAsync($"dd if={local}/src of={mnt}/out bs=4M conv=fsync status=none");
        await Shell.OkAsync($"cp {local}/src {local}/expected");
        // Overwrite 3 MiB in the middle, unaligned, without truncating: a random write into a committed file.
        foreach (var target in new[] { $"{mnt}/out", $"{local}/expected" })
            await Shell.OkAsync($"dd if={local}/patch of={target} bs=1000 seek=12345 conv=notrunc status=none");
        await Shell.OkAsync($"dd if={mnt}/out of={local}/back bs=1M status=none");
        await Shell.OkAsync($"cmp {local}/expected {local}/back");
        await Shell.OkAsync($"cmp {local}/expected {mnt}/out");
        // Extending with a hole: the gap reads as zeros because the file was extended that way.
        await Shell.OkAsync($"dd if={local}/patch of={mnt}/out bs=1M count=1 seek=60 conv=notrunc status=none");
        Assert.Equal((61L * 1024 * 1024).ToString(), await Shell.OkAsync($"stat -c %s {mnt}/out"));
        Assert.Equal("0", await Shell.OkAsync($"dd if={mnt}/out bs=1M skip=50 count=5 status=none | tr -d '\\0' | wc -c"));
    }

    [FuseFact]
    public async Task Python_writes_a_temporary_name_renames_it_and_reads_it_back()
    {
        var (mnt, _) = Folders("python");
        var script = """
            import hashlib, os, random, sys
            d = sys.argv[1]
            rng = random.Random(7)
            for step in range(3):
                data = bytearray(rng.randbytes(20 * 1024 * 1024 + step * 12345))
                tmp = os.path.join(d, f"ckpt-{step}.pt.tmp")
                final = os.path.join(d, f"ckpt-{step}.pt")
                with open(tmp, "wb") as f:
                    # As torch.save does: a header, then large tensor payloads, in uneven pieces.
                    f.write(data[:64])
                    pos = 64
                    while pos < len(data):
                        n = rng.randint(1, 3 * 1024 * 1024)
                        f.write(data[pos:pos + n])
                        pos += n
                    f.flush()
                    os.fsync(f.fileno())
                os.rename(tmp, final)
                assert not os.path.exists(tmp)
                with open(final, "rb") as f:
                    back = f.read()
                assert hashlib.md5(back).hexdigest() == hashlib.md5(data).hexdigest(), f"step {step} differs"
                assert os.path.getsize(final) == len(data)
            # Read-modify-write through one handle sees its own writes.
            with open(os.path.join(d, "rw.bin"), "w+b") as f:
                f.write(b"a" * 5000)
                f.seek(100)
                f.write(b"b" * 10)
                f.seek(0)
                got = f.read()
                assert got == b"a" * 100 + b"b" * 10 + b"a" * 4890, "own writes not visible"
            print("ok")
            """;
        var path = Path.Combine(Setup.Scratch, "ckpt.py");
        await File.WriteAllTextAsync(path, script);
        Assert.Equal("ok", await Shell.OkAsync($"python3 {path} {mnt}"));
        Assert.Equal("ckpt-0.pt ckpt-1.pt ckpt-2.pt rw.bin", (await Shell.OkAsync($"ls {mnt}")).Replace('\n', ' '));
    }

    [FuseFact]
    public async Task Pieces_of_one_block_gathered_by_the_mount_land_in_write_order()
    {
        var (mnt, _) = Folders("gather");
        Assert.Equal("ok", await Shell.OkAsync($"python3 {await GatherScriptAsync()} {mnt}"));
    }

    [FuseFact]
    public async Task With_a_single_write_behind_slot_gathered_pieces_and_whole_blocks_do_not_wait_on_each_other()
    {
        // One slot of write-behind: a gathered block holding it must be sent before a whole block asks for it
        // (before, the write hung for ever; the timeout turns that into a failure).
        var mnt = Path.Combine(Setup.Scratch, "mnt-one-slot");
        Directory.CreateDirectory(mnt);
        await Setup.StartMountAsync(mnt, extra: ["--Mount:WriteBehindBytes=1048576"]);
        Directory.CreateDirectory(Path.Combine(mnt, "gather-one-slot"));
        Assert.Equal("ok", await Shell.OkAsync($"timeout -s KILL 60 python3 {await GatherScriptAsync()} {mnt}/gather-one-slot"));
        await Shell.OkAsync($"umount {mnt}");
    }

    /// <summary>Pieces, overlaps, gaps and whole blocks through one handle, checked against a model; prints ok.</summary>
    private async Task<string> GatherScriptAsync()
    {
        // Through one handle, without fsync in between: pieces of a block that the mount gathers before sending,
        // next to writes that cover blocks whole, overlapping and leaving gaps; the file must read as written.
        var script = """
            import mmap, os, sys
            MiB = 1024 * 1024
            path = os.path.join(sys.argv[1], "g.bin")
            model = bytearray()
            def put(fd, offset, data):
                # From page-aligned memory, so that the kernel sends a block-sized write as one request.
                buffer = mmap.mmap(-1, len(data))
                buffer[:] = data
                os.pwrite(fd, buffer, offset)
                buffer.close()
                end = offset + len(data)
                if end > len(model): model.extend(b"\0" * (end - len(model)))
                model[offset:end] = data
            fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o644)
            put(fd, 0, b"a" * 100)                  # gathered: block 0, bytes 0-99
            put(fd, 0, b"W" * MiB)                  # block 0 whole: newer than the gathered bytes
            put(fd, MiB + 10, b"b" * 1000)          # gathered, starting inside block 1
            put(fd, MiB + 500, b"c" * 200)          # overlaps the gathered bytes: not contiguous
            put(fd, MiB + 5000, b"d" * 10)          # a gap in block 1
            put(fd, 3 * MiB - 64, b"e" * (MiB + 128))  # across blocks 2, 3 and 4
            put(fd, 3 * MiB + 64, b"f" * 64)        # back inside block 3, already sent whole
            put(fd, 5 * MiB + 10, b"g" * 100)       # gathered in block 5 ...
            put(fd, 6 * MiB, b"h" * MiB)            # ... then block 6 whole, which needs a write-behind slot
            os.close(fd)
            with open(path, "rb") as f:
                back = f.read()
            assert len(back) == len(model), f"size {len(back)} != {len(model)}"
            assert back == bytes(model), "bytes differ from what was written, in order"
            print("ok")
            """;
        var path = Path.Combine(Setup.Scratch, "gather.py");
        await File.WriteAllTextAsync(path, script);
        return path;
    }

    /// <summary>A small tree of directories and files of mixed sizes (empty, tiny, around the 1 MiB block, a few MiB).</summary>
    private static async Task MakeTreeAsync(string root)
    {
        var sizes = new[] { 0, 1, 100, 4095, 4096, 65537, 1048575, 1048576, 1048577, 3 * 1048576 + 7 };
        var random = new Random(11);
        for (int d = 0; d < 4; d++)
        {
            var dir = Path.Combine(root, $"dir{d}", d % 2 == 0 ? "nested" : "");
            Directory.CreateDirectory(dir);
            for (int f = 0; f < sizes.Length; f++)
            {
                var bytes = new byte[sizes[(f + d) % sizes.Length]];
                random.NextBytes(bytes);
                await File.WriteAllBytesAsync(Path.Combine(dir, $"file{f}.bin"), bytes);
            }
        }
        Directory.CreateDirectory(Path.Combine(root, "empty-dir"));
    }

    [FuseFact]
    public async Task Tar_of_a_tree_in_and_out_is_identical()
    {
        var (mnt, local) = Folders("tar");
        var src = Path.Combine(local, "src");
        await MakeTreeAsync(src);
        await Shell.OkAsync($"mkdir -p {mnt}/t {local}/back && tar -C {src} -cf - . | tar -C {mnt}/t -xf -");
        await Shell.OkAsync($"diff -r {src} {mnt}/t");
        await Shell.OkAsync($"tar -C {mnt}/t -cf - . | tar -C {local}/back -xf -");
        await Shell.OkAsync($"diff -r {src} {local}/back");
        // ls -l sizes on the mount match the local ones.
        var sizes = "find . -type f -printf '%p %s\\n' | sort";
        Assert.Equal(await Shell.OkAsync(sizes, src), await Shell.OkAsync(sizes, $"{mnt}/t"));
        Assert.Equal(await Shell.OkAsync("ls -l dir0/nested | awk '{print $5, $9}'", src), await Shell.OkAsync("ls -l dir0/nested | awk '{print $5, $9}'", $"{mnt}/t"));
    }

    [FuseFact]
    public async Task Rsync_archive_copies_in_and_out_and_rm_r_removes_the_tree()
    {
        var (mnt, local) = Folders("rsync");
        var src = Path.Combine(local, "src");
        await MakeTreeAsync(src);
        // rsync writes each file to a temporary name and renames it into place.
        await Shell.OkAsync($"rsync -a {src}/ {mnt}/r/");
        await Shell.OkAsync($"diff -r {src} {mnt}/r");
        await Shell.OkAsync($"rsync -a {mnt}/r/ {local}/back/");
        await Shell.OkAsync($"diff -r {src} {local}/back");
        // A second run finds nothing to copy (sizes and modification times were kept).
        var second = await Shell.OkAsync($"rsync -a --itemize-changes {src}/ {mnt}/r/");
        Assert.DoesNotContain(">f", second);
        await Shell.OkAsync($"rm -r {mnt}/r");
        Assert.False(Directory.Exists($"{mnt}/r"));
        Assert.Equal("", await Shell.OkAsync($"ls {mnt}"));
    }

    [FuseFact]
    public async Task Fio_sequential_and_random_writes_verify_with_crc32c()
    {
        var (mnt, _) = Folders("fio");
        var common = $"--directory={mnt} --ioengine=psync --fallocate=none --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting";
        await Shell.OkAsync($"fio --name=seq --rw=write --bs=1M --size=128M {common}");
        await Shell.OkAsync($"fio --name=rand --rw=randwrite --bs=64k --size=32M {common}");
        await Shell.OkAsync($"fio --name=rand4k --rw=randwrite --bs=4k --size=8M {common}");
        var ls = await Shell.OkAsync($"ls -l {mnt} | awk '{{print $5, $9}}'");
        Assert.Contains("134217728 seq.0.0", ls);
        Assert.Contains("33554432 rand.0.0", ls);
    }

    [FuseFact]
    public async Task Errors_map_to_the_right_errno()
    {
        var (mnt, _) = Folders("errno");
        await Shell.OkAsync($"mkdir {mnt}/d && echo x > {mnt}/d/f");
        var script = $$"""
            import errno, os
            m = "{{mnt}}"
            def code(f):
                try:
                    f()
                    return 0
                except OSError as e:
                    return e.errno
            print(errno.errorcode[code(lambda: os.stat(m + "/missing"))])
            print(errno.errorcode[code(lambda: os.mkdir(m + "/d"))])
            print(errno.errorcode[code(lambda: os.rmdir(m + "/d"))])
            print(errno.errorcode[code(lambda: os.rename(m + "/d", m + "/d/inside"))])
            print(errno.errorcode[code(lambda: os.open(m + "/d/f", os.O_CREAT | os.O_EXCL | os.O_WRONLY))])
            print(errno.errorcode[code(lambda: os.unlink(m + "/d"))])
            print(errno.errorcode[code(lambda: os.mkdir(m + "/" + "n" * 256))])
            """;
        var path = Path.Combine(Setup.Scratch, "errno.py");
        await File.WriteAllTextAsync(path, script);
        Assert.Equal("ENOENT EEXIST ENOTEMPTY EINVAL EEXIST EISDIR ENAMETOOLONG", (await Shell.OkAsync($"python3 {path}")).Replace('\n', ' '));
    }

    [FuseFact]
    public async Task A_full_store_fails_writes_with_ENOSPC_and_keeps_committed_files()
    {
        var small = Setup.Directory.Folder("small-mnt");
        await Setup.StartMountAsync(small, store: "small");
        await Shell.OkAsync($"head -c 5M /dev/urandom > {Setup.Scratch}/kept && cp {Setup.Scratch}/kept {small}/kept");
        var fill = await Shell.RunAsync($"dd if=/dev/zero of={small}/filler bs=1M count=200");
        Assert.NotEqual(0, fill.ExitCode);
        Assert.Contains("No space left on device", fill.Error);
        await Shell.OkAsync($"cmp {Setup.Scratch}/kept {small}/kept");
    }
}
