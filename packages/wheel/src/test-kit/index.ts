// The wheel test kit (built and published as @cluster-pack/wheel/test-kit): wheels crafted
// byte by byte to be wrong in one chosen way, for tests of anything that reads wheels.
export { craftWheel, type CraftOptions } from "./craft";
