namespace CheckpointCache.Mount.Tests.Infrastructure;

/// <summary>A unique folder under /tmp (short enough for a Unix socket path inside), removed on Dispose.</summary>
public sealed class TestDirectory : IDisposable
{
    public TestDirectory()
    {
        Path = System.IO.Path.Combine("/tmp", "ccm-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Of(string name)
    {
        var path = System.IO.Path.Combine(Path, name);
        return path;
    }

    public string Folder(string name)
    {
        var path = Of(name);
        Directory.CreateDirectory(path);
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
