"""The API's errors: one JSON shape, a stable code and a message in Chinese.

Every error under ``/mp/v1`` is answered as::

    {"error": {"code": "rate_limited", "message": "操作太频繁，请稍后再试"}}

with ``fields`` added for validation errors (which field, in the API's
terms). The codes are a contract with the mini-program; the messages can be
shown to the user as they are.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["ERRORS", "ApiError", "ErrorBody", "ErrorResponse", "FieldError", "error_responses"]

# code: (HTTP status, message)
ERRORS: dict[str, tuple[int, str]] = {
    "bad_request": (400, "请求格式有误"),
    "invalid_code": (401, "登录凭证无效或已过期，请重新登录"),
    "unauthorized": (401, "请先登录"),
    "session_expired": (401, "登录已过期，请重新登录"),
    "login_blocked": (403, "当前微信账号暂时无法登录，请稍后再试"),
    "bad_encrypted_data": (400, "手机号解密失败，请重新授权"),
    "wrong_app": (400, "数据不属于本小程序，请重新授权"),
    "invalid_phone_code": (400, "手机号授权已失效，请重新授权"),
    "not_found": (404, "没有找到这件诉求"),
    "media_not_found": (404, "没有找到这张照片"),
    "no_route": (404, "接口不存在"),
    "method_not_allowed": (405, "不支持这种请求方式"),
    "already_rated": (409, "每件诉求只能评价一次，您已评价过"),
    "not_allowed": (409, "这件诉求目前不能这样操作"),
    "not_supported": (409, "当前工单系统不支持在线办理这项操作，请拨打12345热线"),
    "payload_too_large": (413, "文件太大了"),
    "unsupported_media_type": (415, "只支持 JPEG、PNG、WebP 格式的照片"),
    "validation_failed": (422, "提交的内容不符合要求"),
    "unknown_media": (422, "照片不存在或不是您上传的，请重新上传"),
    "rate_limited": (429, "操作太频繁，请稍后再试"),
    "internal_error": (500, "系统出了点问题，请稍后再试"),
    "wechat_error": (502, "微信服务返回了错误，请稍后再试"),
    "backend_busy": (503, "工单系统繁忙，请稍后再试"),
    "service_busy": (503, "系统繁忙，请稍后再试"),
    "wechat_unavailable": (503, "微信服务暂时不可用，请稍后再试"),
}


class FieldError(BaseModel):
    field: str = Field(description="出错的字段，如 body.location.latitude")
    reason: str


class ErrorBody(BaseModel):
    code: str = Field(description="稳定的错误代码，供程序判断", examples=["rate_limited"])
    message: str = Field(description="给用户看的中文说明", examples=["操作太频繁，请稍后再试"])
    fields: list[FieldError] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """Raised by the routes; answered as JSON with the code's status and message."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        fields: list[FieldError] | None = None,
    ) -> None:
        status, default = ERRORS[code]
        super().__init__(code)
        self.code = code
        self.status_code = status
        self.message = message or default
        self.headers = headers
        self.fields = fields

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = [f.model_dump() for f in self.fields]
        return {"error": error}


def error_responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the routes: each status with its codes listed."""
    by_status: dict[int, list[str]] = {}
    for code in (*codes, "rate_limited", "validation_failed"):
        by_status.setdefault(ERRORS[code][0], []).append(code)
    return {
        status: {
            "model": ErrorResponse,
            "description": "错误：" + "、".join(
                f"{code}（{ERRORS[code][1]}）" for code in dict.fromkeys(names)
            ),
        }
        for status, names in sorted(by_status.items())
    }
