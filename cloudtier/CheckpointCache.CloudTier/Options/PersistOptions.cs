using System.Text.RegularExpressions;

namespace CheckpointCache.CloudTier.Options;

/// <summary>
/// The persist policy (Cloud:Persist). For EveryNthCheckpointDirectory, the checkpoint directory of a file is the
/// directory at depth <see cref="DirectoryDepth"/> of its path ("/ckpt/step-500/model.pt" has "step-500" at depth 2);
/// its step is the first capture group of <see cref="StepPattern"/>, and it is persisted when
/// (step / StepInterval) mod N is 0. Deciding by the step in the name, not by counting directories, keeps the choice
/// the same on every node of a job and across restarts.
/// </summary>
public sealed class PersistOptions
{
    public PersistKind Kind { get; set; } = PersistKind.All;

    /// <summary>Globs over the whole path: '*' within a name, '**' across names, '?' one character ("/models/**", "**/*.safetensors").</summary>
    public List<string> Patterns { get; set; } = [];

    public int N { get; set; } = 5;

    public int DirectoryDepth { get; set; } = 1;

    /// <summary>Finds the step in a checkpoint directory's name; the default takes its last run of digits.</summary>
    public string StepPattern { get; set; } = @"(\d+)\D*$";

    /// <summary>Steps between two checkpoints (a job saving every 500 steps names its directories step-500, step-1000, ...).</summary>
    public long StepInterval { get; set; } = 1;

    public IEnumerable<string> Validate()
    {
        if (Kind == PersistKind.Patterns && Patterns.Count == 0) yield return "Kind Patterns needs at least one pattern";
        if (Kind == PersistKind.EveryNthCheckpointDirectory)
        {
            if (N < 1) yield return "N must be at least 1";
            if (DirectoryDepth < 1) yield return "DirectoryDepth must be at least 1";
            if (StepInterval < 1) yield return "StepInterval must be at least 1";
            string? error = null;
            try
            {
                if (new Regex(StepPattern).GetGroupNumbers().Length < 2) error = $"StepPattern '{StepPattern}' needs a capture group";
            }
            catch (ArgumentException e)
            {
                error = $"StepPattern '{StepPattern}' is not a regular expression: {e.Message}";
            }
            if (error is not null) yield return error;
        }
    }
}
