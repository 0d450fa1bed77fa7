module.exports = { ...require("../../jest.preset.js"), displayName: "published", rootDir: __dirname };
