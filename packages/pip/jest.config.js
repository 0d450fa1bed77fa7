module.exports = { ...require("../../jest.preset.js"), displayName: "pip", rootDir: __dirname };
