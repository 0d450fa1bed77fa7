// The random-access sources (local file, buffer, HTTP range) live in @cluster-pack/io, once
// for the whole project; zip re-exports them so its public API and its modules keep
// importing them from here.
export { type RandomAccessSource, type HttpRangeSourceOptions, OutOfRangeError, fileSource, bufferSource, sliceSource, httpRangeSource, withSignal } from "@cluster-pack/io";
