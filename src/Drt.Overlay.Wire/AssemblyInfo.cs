// Decoders return large structs (a Lookup is four keys, an optional entry and a list) through out parameters and
// build them in locals; zero-initialising those frames on every call cost the decode path measurably, and no code
// here reads a local before writing it (the compiler's definite-assignment rules hold; stackalloc buffers are
// always written before use).
[module: System.Runtime.CompilerServices.SkipLocalsInit]
