namespace CheckpointCache.Engine.Tests.Devices;

/// <summary>A fresh folder under the temp directory, deleted with everything in it on Dispose.</summary>
internal sealed class TestFolder : IDisposable
{
    public TestFolder()
    {
        Root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ccache-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    public string Path(string name) => System.IO.Path.Combine(Root, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
