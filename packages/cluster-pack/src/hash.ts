/** sha256 of a file, streamed: @cluster-pack/io's. */
export { sha256File } from "@cluster-pack/io";
