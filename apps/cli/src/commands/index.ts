import type { CommandModule } from "../context";
import * as conda from "./conda";
import * as diff from "./diff";
import * as download from "./download";
import * as fs from "./fs";
import * as fetchLayers from "./fetch-layers";
import * as gc from "./gc";
import * as lock from "./lock";
import * as pex from "./pex";
import * as resolve from "./resolve";
import * as skeinSpec from "./skein-spec";
import * as sparkConf from "./spark-conf";
import * as tfConfig from "./tf-config";
import * as torchEnv from "./torch-env";
import * as uploadEnv from "./upload-env";
import * as uploadZip from "./upload-zip";
import * as venv from "./venv";
import * as zip from "./zip";

/**
 * Every command, in the order `cluster-pack --help` lists them: the main job, engine
 * configuration, packing, resolving, then the tools. Typed: a module that does not export
 * `register(program, ctx)` is a build error here, not a command that silently goes missing.
 */
export const COMMANDS: readonly CommandModule[] = [uploadEnv, uploadZip, diff, gc, fetchLayers, sparkConf, skeinSpec, tfConfig, torchEnv, pex, conda, venv, resolve, lock, download, zip, fs];
