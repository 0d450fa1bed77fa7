// The engines' end-to-end harness, for tests of code built on @cluster-pack/engines: a
// marked environment, localisation as YARN does it (with its node cache), real worker
// processes started from generated commands.
export * from "./workers";
