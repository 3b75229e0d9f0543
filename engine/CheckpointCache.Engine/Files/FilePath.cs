using System.Text;

namespace CheckpointCache.Engine.Files;

/// <summary>
/// Paths of a files namespace: '/'-separated names under the namespace root ("/" or "" is the root;
/// a leading '/' is optional). Names are never empty, ".", "..", and contain no NUL, so no path can
/// climb out of the namespace; limits on path and name length are checked here, once.
/// </summary>
public static class FilePath
{
    /// <summary>Splits and validates a path; the root is an empty list.</summary>
    public static IReadOnlyList<string> Parse(string? path, int maxPathBytes, int maxNameBytes)
    {
        if (path is null) throw Invalid("(null)", "the path is missing");
        if (Encoding.UTF8.GetByteCount(path) > maxPathBytes)
            throw new FilesException(FilesErrorCode.NameTooLong, $"path '{Shorten(path)}' is {Encoding.UTF8.GetByteCount(path)} bytes; Files:MaxPathBytes is {maxPathBytes}");
        var names = new List<string>();
        foreach (var name in path.Split('/'))
        {
            if (name.Length == 0) continue; // leading, trailing and doubled slashes
            if (name == "." || name == "..")
                throw Invalid(path, $"'{name}' is not allowed in a path (paths cannot climb out of the namespace)");
            if (name.Contains('\0')) throw Invalid(path, "a path cannot contain NUL");
            if (name.Any(char.IsSurrogate) && !IsWellFormed(name)) throw Invalid(path, "the path is not valid UTF-16 text");
            int bytes = Encoding.UTF8.GetByteCount(name);
            if (bytes > maxNameBytes)
                throw new FilesException(FilesErrorCode.NameTooLong, $"name '{Shorten(name)}' in path '{Shorten(path)}' is {bytes} bytes; Files:MaxNameBytes is {maxNameBytes}");
            names.Add(name);
        }
        return names;
    }

    /// <summary>The canonical form: "/" plus the names joined by '/'.</summary>
    public static string Join(IEnumerable<string> names) => "/" + string.Join('/', names);

    /// <summary>The directory of a canonical path ("/a/b" is in "/a", "/a" in "/").</summary>
    public static string DirectoryOf(string canonical)
    {
        int slash = canonical.LastIndexOf('/');
        return slash <= 0 ? "/" : canonical[..slash];
    }

    private static bool IsWellFormed(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            if (char.IsSurrogate(s[i])) return false;
        }
        return true;
    }

    private static string Shorten(string s) => s.Length <= 80 ? s : s[..77] + "...";

    private static FilesException Invalid(string path, string why) => new(FilesErrorCode.InvalidArgument, $"invalid path '{Shorten(path)}': {why}");
}
