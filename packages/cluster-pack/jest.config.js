module.exports = { ...require("../../jest.preset.js"), displayName: "cluster-pack", rootDir: __dirname };
