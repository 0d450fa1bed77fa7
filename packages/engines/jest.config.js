module.exports = { ...require("../../jest.preset.js"), displayName: "engines", rootDir: __dirname };
