using CheckpointCache.Engine.Files;

namespace CheckpointCache.Files.Tests;

/// <summary>Directories, renames (atomic, files and directories), recursive delete, listing, path validation.</summary>
public sealed class TreeTests : IAsyncLifetime
{
    private readonly TestFolder _folder = new();
    private FilesHarness _files = null!;

    public async Task InitializeAsync() => _files = await FilesHarness.StartAsync(_folder.Path, snapshotEvery: 7);

    public async Task DisposeAsync()
    {
        await _files.DisposeAsync();
        _folder.Dispose();
    }

    private FileTree Tree => _files.Tree;

    private static async Task<FilesErrorCode> ErrorOf(Func<Task> action)
        => (await Assert.ThrowsAsync<FilesException>(action)).Code;

    [Fact]
    public async Task Writing_to_a_temporary_name_then_renaming_replaces_the_file_atomically()
    {
        await Tree.MkdirAsync("/run/step-100", parents: true);
        var v1 = TestData.Random(1, 200_000);
        var v2 = TestData.Random(2, 150_000);
        await _files.WriteFileAsync("/run/step-100/model.pt", v1);
        await _files.WriteFileAsync("/run/step-100/model.pt.tmp", v2);

        var reader = await Tree.OpenAsync("/run/step-100/model.pt", OpenMode.Read);
        await Tree.RenameAsync("/run/step-100/model.pt.tmp", "/run/step-100/model.pt");
        // A reader that opened before the rename keeps the version it opened.
        var old = new byte[reader.Size];
        await reader.ReadAsync(0, old);
        Assert.Equal(v1, old);
        await reader.CloseAsync(false);

        Assert.Equal(v2, await _files.ReadFileAsync("/run/step-100/model.pt"));
        Assert.Equal(FilesErrorCode.NotFound, await ErrorOf(() => Tree.StatAsync("/run/step-100/model.pt.tmp")));
    }

    [Fact]
    public async Task Renaming_a_directory_moves_its_whole_subtree_and_survives_a_restart()
    {
        Assert.Equal(FilesErrorCode.NotFound, await ErrorOf(() => _files.WriteFileAsync("/tmp-ckpt/shard/0.distcp", [1])));
        await Tree.MkdirAsync("/tmp-ckpt/shard", parents: true);
        for (int i = 0; i < 5; i++) await _files.WriteFileAsync($"/tmp-ckpt/shard/{i}.distcp", TestData.Random(i, 10_000 + i));
        await Tree.MkdirAsync("/final");
        await Tree.RenameAsync("/tmp-ckpt", "/final/step-7");

        await _files.RestartAsync();
        Assert.Equal(FilesErrorCode.NotFound, await ErrorOf(() => Tree.StatAsync("/tmp-ckpt")));
        for (int i = 0; i < 5; i++)
            Assert.Equal(TestData.Random(i, 10_000 + i), await _files.ReadFileAsync($"/final/step-7/shard/{i}.distcp"));
        var (entries, more) = await Tree.ListAsync("/final/step-7/shard", null, 3);
        Assert.True(more);
        Assert.Equal(["0.distcp", "1.distcp", "2.distcp"], entries.Select(e => e.Name));
        var (rest, none) = await Tree.ListAsync("/final/step-7/shard", entries[^1].Name, 3);
        Assert.False(none);
        Assert.Equal(["3.distcp", "4.distcp"], rest.Select(e => e.Name));
    }

    [Fact]
    public async Task Rename_refusals_follow_rename2()
    {
        await Tree.MkdirAsync("/a/b", parents: true);
        await Tree.MkdirAsync("/full/x", parents: true);
        await _files.WriteFileAsync("/f", [1, 2, 3]);
        Assert.Equal(FilesErrorCode.InvalidArgument, await ErrorOf(() => Tree.RenameAsync("/a", "/a/b/c")));
        Assert.Equal(FilesErrorCode.NotEmpty, await ErrorOf(() => Tree.RenameAsync("/a", "/full")));
        Assert.Equal(FilesErrorCode.IsADirectory, await ErrorOf(() => Tree.RenameAsync("/f", "/a")));
        Assert.Equal(FilesErrorCode.NotADirectory, await ErrorOf(() => Tree.RenameAsync("/a", "/f")));
        Assert.Equal(FilesErrorCode.AlreadyExists, await ErrorOf(() => Tree.RenameAsync("/a", "/full", noReplace: true)));
        Assert.Equal(FilesErrorCode.NotFound, await ErrorOf(() => Tree.RenameAsync("/nope", "/x")));
        Assert.Equal(FilesErrorCode.NotADirectory, await ErrorOf(() => Tree.RenameAsync("/a", "/f/y")));
        await Tree.RenameAsync("/a/b", "/full/x"); // an empty directory is replaced
        Assert.Equal(EntryKind.Directory, (await Tree.StatAsync("/full/x")).Kind);
    }

    [Fact]
    public async Task Recursive_delete_removes_a_tree_and_plain_delete_refuses_a_full_directory()
    {
        await Tree.MkdirAsync("/d/e/f", parents: true);
        await _files.WriteFileAsync("/d/e/f/g", TestData.Random(1, 70_000));
        await _files.WriteFileAsync("/d/h", TestData.Random(2, 10));
        Assert.Equal(FilesErrorCode.NotEmpty, await ErrorOf(() => Tree.DeleteAsync("/d")));
        Assert.Equal(FilesErrorCode.IsADirectory, await ErrorOf(() => Tree.DeleteAsync("/d/e", expected: EntryKind.File)));
        Assert.Equal(FilesErrorCode.NotADirectory, await ErrorOf(() => Tree.DeleteAsync("/d/h", expected: EntryKind.Directory)));
        await Tree.DeleteAsync("/d", recursive: true);
        Assert.Equal(FilesErrorCode.NotFound, await ErrorOf(() => Tree.StatAsync("/d/e/f/g")));
        await _files.RestartAsync();
        Assert.Equal(FilesErrorCode.NotFound, await ErrorOf(() => Tree.StatAsync("/d")));
        Assert.Empty((await Tree.ListAsync("/", null, 10)).Entries);
    }

    [Theory]
    [InlineData("/a/../b", FilesErrorCode.InvalidArgument)]
    [InlineData("..", FilesErrorCode.InvalidArgument)]
    [InlineData("/a/./b", FilesErrorCode.InvalidArgument)]
    [InlineData("/a\0b", FilesErrorCode.InvalidArgument)]
    public async Task Paths_that_could_escape_are_refused(string path, FilesErrorCode code)
    {
        Assert.Equal(code, await ErrorOf(() => Tree.OpenAsync(path, OpenMode.Write | OpenMode.Create)));
    }

    [Fact]
    public async Task Names_and_paths_over_the_limits_are_refused()
    {
        Assert.Equal(FilesErrorCode.NameTooLong, await ErrorOf(() => Tree.MkdirAsync("/" + new string('n', 256))));
        Assert.Equal(FilesErrorCode.NameTooLong, await ErrorOf(() => Tree.StatAsync(string.Concat(Enumerable.Repeat("/abcdefgh", 500)))));
        await Tree.MkdirAsync("/" + new string('n', 255));
    }

    [Fact]
    public async Task Open_and_create_errors_match_open2()
    {
        await _files.WriteFileAsync("/file", [1]);
        await Tree.MkdirAsync("/dir");
        Assert.Equal(FilesErrorCode.AlreadyExists, await ErrorOf(() => Tree.OpenAsync("/file", OpenMode.Write | OpenMode.Create | OpenMode.Exclusive)));
        Assert.Equal(FilesErrorCode.NotFound, await ErrorOf(() => Tree.OpenAsync("/missing", OpenMode.Read)));
        Assert.Equal(FilesErrorCode.IsADirectory, await ErrorOf(() => Tree.OpenAsync("/dir", OpenMode.Write)));
        Assert.Equal(FilesErrorCode.NotADirectory, await ErrorOf(() => Tree.OpenAsync("/file/x", OpenMode.Write | OpenMode.Create)));
        Assert.Equal(FilesErrorCode.AlreadyExists, await ErrorOf(() => Tree.MkdirAsync("/dir")));
        Assert.Equal(FilesErrorCode.InvalidArgument, await ErrorOf(() => Tree.OpenAsync("/file", OpenMode.Read | OpenMode.Truncate)));
        var reader = await Tree.OpenAsync("/file", OpenMode.Read);
        Assert.Equal(FilesErrorCode.BadHandle, await ErrorOf(() => reader.WriteAsync(0, new byte[1])));
    }
}
